"""Synthesizing the CDK app for the template tests, and reading IAM policies out of a template.

A synthesis takes seconds, so each test module synthesizes once (module-scoped
fixtures) with ``bundle=false``: the Lambda code is ``lambdas/`` as it is and
pip never runs. Building the app adds cdk-nag's AWS Solutions checks; with
cdk-nag 3 an unacknowledged finding fails ``synth()``, so the error is kept
for the test that reports it rather than failing every test of the module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "cdk"))

from aws_cdk import Stack
from aws_cdk.assertions import Template
from constructs import IConstruct

from augury_cdk.stack import AuguryStack, build_app


@dataclass
class Synthesized:
    stack: AuguryStack
    template: Template
    outdir: Path
    error: Exception | None

    @property
    def resources(self) -> dict[str, Any]:
        return self.template.to_json()["Resources"]

    def of_type(self, kind: str) -> dict[str, Any]:
        return self.template.find_resources(kind)

    def logical_id(self, construct: IConstruct) -> str:
        node = construct.node.default_child or construct
        return Stack.of(construct).get_logical_id(node)  # type: ignore[arg-type]

    def statements(self, role: IConstruct) -> list[dict[str, Any]]:
        """Every statement of every policy attached to ``role``, actions as lists."""
        role_id = self.logical_id(role)
        found = []
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_id} not in policy["Properties"]["Roles"]:
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                found.append({**statement, "Action": as_list(statement["Action"])})
        return found

    def actions(self, role: IConstruct) -> set[str]:
        return {action for s in self.statements(role) for action in s["Action"]}


def synthesize(context: Mapping[str, Any], tmp: Path) -> Synthesized:
    app, stack = build_app({"bundle": "false", **context}, outdir=str(tmp))
    try:
        app.synth()
        error = None
    except Exception as exc:  # cdk-nag findings; reported by the nag test
        error = exc
    return Synthesized(stack, Template.from_stack(stack), tmp, error)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def account_arn(service: str, resource: str) -> dict[str, Any]:
    """An ARN pattern in the stack's account and region: pseudo parameters, never a literal
    partition, so the stack deploys to any partition."""
    arn = [
        "arn:",
        {"Ref": "AWS::Partition"},
        f":{service}:",
        {"Ref": "AWS::Region"},
        ":",
        {"Ref": "AWS::AccountId"},
        f":{resource}",
    ]
    return {"Fn::Join": ["", arn]}
