"""The AWS WorkflowEngine: each workflow is a Step Functions state machine.

The CDK app compiles every workflow in ``augury.workflows`` into a state machine
named ``<name_prefix><workflow>``; starting one is a StartExecution with the
payload as JSON input. The ARN is built, not looked up, so starting costs one
call and no ListStateMachines permission.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class StepFunctionsEngine:
    """``WorkflowEngine`` on Step Functions state machines named by a common prefix."""

    def __init__(
        self,
        region: str,
        account: str,
        name_prefix: str,
        client: Any = None,
        partition: str = "aws",
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("stepfunctions", region_name=region)
        self.region = region
        self.account = account
        self.name_prefix = name_prefix
        self.partition = partition
        self.client = client

    def state_machine_arn(self, workflow: str) -> str:
        return (
            f"arn:{self.partition}:states:{self.region}:{self.account}:"
            f"stateMachine:{self.name_prefix}{workflow}"
        )

    def start(self, workflow: str, payload: Mapping[str, Any]) -> str:
        response = self.client.start_execution(
            stateMachineArn=self.state_machine_arn(workflow),
            input=json.dumps(dict(payload), separators=(",", ":")),
        )
        return response["executionArn"]
