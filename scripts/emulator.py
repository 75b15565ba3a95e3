#!/usr/bin/env python3
"""Runs the moto AWS emulator on 127.0.0.1 for Boreas's local platform and tests.

Starts moto's ThreadedMotoServer on the given port (0: a free one), switches Step Functions execution
on, then prints one JSON line {"endpoint": "http://127.0.0.1:PORT"} on stdout once the server answers.
It exits on SIGTERM/SIGINT, and on its own as soon as the process that started it is gone (its parent
pid changes), so an emulator never outlives the test or command that needed it.

With --integrations-port M, Step Functions' service integrations call port M instead of the server
itself: a test puts a fault-injecting proxy there.

Usage: emulator.py [--port N] [--integrations-port M]
"""

import argparse
import json
import logging
import os
import signal
import sys
import threading
import urllib.request

from moto.server import ThreadedMotoServer

PARENT_POLL_SECONDS = 0.5


def serialize_dynamodb():
    """DynamoDB applies each request atomically: a conditional write's check and write never
    interleave with another write. moto serves requests on parallel threads without that guarantee,
    so two racing conditional writes could both succeed. One lock around DynamoDB requests restores
    the guarantee (other services stay parallel: SQS long polls must not block anything)."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    def serialized(self):
        with lock:
            return call_action(self)

    DynamoHandler.call_action = serialized


def main():
    parser = argparse.ArgumentParser(description="moto AWS emulator for Boreas")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--integrations-port",
        type=int,
        default=0,
        help="port Step Functions' service integrations call (0: this server's)",
    )
    args = parser.parse_args()

    parent = os.getppid()
    # Request logs would drown the output of whoever started us; warnings and errors stay.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    serialize_dynamodb()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # Step Functions' service integrations (dynamodb:updateItem, sqs:sendMessage) call back into this
    # same server through localhost:$MOTO_PORT (default 5000): point them at the port in use.
    os.environ["MOTO_PORT"] = str(args.integrations_port or port)

    # Step Functions only executes state machines when this is on; it must precede any creation.
    # The request also proves the server answers.
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    print(json.dumps({"endpoint": endpoint, "pid": os.getpid()}), flush=True)
    # Nothing else goes to stdout: the reader may stop reading after the first line.
    sys.stdout = sys.stderr

    while not stop.wait(PARENT_POLL_SECONDS):
        if os.getppid() != parent:
            break
    server.stop()


if __name__ == "__main__":
    main()
