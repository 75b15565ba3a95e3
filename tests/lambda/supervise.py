#!/usr/bin/env python3
"""Runs a command (here `cargo lambda watch`) so that it never outlives the process that started us.

The command runs in a session of its own. It is stopped, with everything in that session (cargo,
the function binaries it runs), when we get SIGTERM or SIGINT, and also as soon as our parent is
gone (its pid changes), which covers a test process that is killed without running destructors.
Stopping is SIGTERM to the command's process group, then SIGKILL to it after a grace period. We
exit with the command's status.

Usage: supervise.py COMMAND [ARGS...]
"""

import os
import signal
import subprocess
import sys
import threading

PARENT_POLL_SECONDS = 0.5
GRACE_SECONDS = 10


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: supervise.py COMMAND [ARGS...]")
    parent = os.getppid()
    child = subprocess.Popen(sys.argv[1:], start_new_session=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    while child.poll() is None:
        if stop.wait(PARENT_POLL_SECONDS) or os.getppid() != parent:
            break
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(timeout=GRACE_SECONDS)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    # Whatever is left in the session goes, including function binaries that sit in process
    # groups of their own (the session id outlives its leader).
    for pid in session_members(child.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    child.wait()
    sys.exit(child.returncode if child.returncode >= 0 else 128 - child.returncode)


def session_members(sid):
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) == sid:
                members.append(int(entry))
        except (ProcessLookupError, PermissionError):
            pass
    return members


if __name__ == "__main__":
    main()
