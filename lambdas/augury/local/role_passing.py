"""Embedded mode's ``RolePassing``: every role passes.

There is no IAM on one machine: a role ARN in a request is kept and shown, as
Amazon's API shows it, but nothing is assumed with it, and the only data a
request can reach is under the data directory, which whoever runs the server
owns already.
"""

from __future__ import annotations

from augury.ports import Caller


class UncheckedRolePassing:
    """``RolePassing`` with nobody to check: embedded mode's callers are its owner."""

    def check(self, caller: Caller | None, role_arn: str, service: str) -> None:
        return None
