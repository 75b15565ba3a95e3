"""Schemathesis check of Boreas's roles, loaded with SCHEMATHESIS_HOOKS; BOREAS_TOKEN is the token
the run sends and BOREAS_ROLE its role. Every operation documents the role it needs
(`x-boreas-role`): a request with the token, below that role, must get 403; at or above it, never
401 or 403. Requests schemathesis sends without the token (its authentication probes) or with
another method are the documented 401s and 405s, left to its own checks."""

import os

import schemathesis

RANK = {"viewer": 0, "deployer": 1, "approver": 2, "admin": 3}


@schemathesis.check
def refused_below_its_role(ctx, response, case):
    needed = case.operation.definition.raw.get("x-boreas-role")
    if needed is None:
        return None
    # Another method on the same path (schemathesis's unsupported-method probe) is a 405.
    if case.method.upper() != case.operation.method.upper():
        return None
    if response.request.headers.get("Authorization") != f"Bearer {os.environ['BOREAS_TOKEN']}":
        return None
    mine = os.environ["BOREAS_ROLE"]
    status = response.status_code
    if RANK[mine] < RANK[needed] and status != 403:
        raise AssertionError(
            f"{case.method} {case.path} needs role {needed}; a {mine} token got {status}, not 403"
        )
    if RANK[mine] >= RANK[needed] and status in (401, 403):
        raise AssertionError(
            f"{case.method} {case.path} needs role {needed}; a {mine} token was refused ({status})"
        )
    return True
