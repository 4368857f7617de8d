"""cdk-nag: the AWS Solutions checks run on every synth, and the one way to acknowledge a rule.

cdk-nag 3.x plugs into CDK's policy validation: an unacknowledged error or
warning fails ``app.synth()``. Every acknowledgement goes through
``acknowledge`` with a reason a reviewer can check, next to the construct it
concerns.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

MIN_REASON_LENGTH = 40


def add_checks(app: App) -> None:
    """Run the AWS Solutions pack on everything in ``app`` when it synthesizes."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept ``rule`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``scope`` and below."""
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledging {rule} needs a real reason, not {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))
