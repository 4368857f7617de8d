"""Workflows: one Step Functions state machine per workflow in ``augury.workflows.catalog``.

Each definition is ``augury.workflows.asl.compile_workflow`` of the same Python
``Workflow`` the embedded runner executes: there is no hand-written ASL and no
second copy of the steps. The state machines are named ``<prefix><workflow>``,
which is how ``augury.aws.stepfunctions_engine`` finds them.
"""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from augury.workflows.asl import compile_workflow, state_machine_name
from augury.workflows.catalog import WORKFLOWS
from augury_cdk.checks import acknowledge
from augury_cdk.functions import LOG_RETENTION


class WorkflowStateMachines(Construct):
    """The state machines, each with a role that may only invoke the workflow-step function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        step_function: lambda_.IFunction,
        prefix: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # One log group for all of them: Step Functions' log delivery adds each log
        # group to a CloudWatch Logs resource policy whose size is limited.
        self.log_group = logs.LogGroup(
            self, "Logs", retention=LOG_RETENTION, removal_policy=removal_policy
        )
        self.state_machines: dict[str, sfn.StateMachine] = {}
        for name, workflow in sorted(WORKFLOWS.items()):
            construct = _construct_id(name)
            role = iam.Role(
                self,
                f"{construct}Role",
                assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
                description=f"Augury workflow {name}: invokes the workflow-step function",
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"], resources=[step_function.function_arn]
                )
            )
            definition = compile_workflow(workflow, step_function.function_arn)
            self.state_machines[name] = sfn.StateMachine(
                self,
                construct,
                state_machine_name=state_machine_name(prefix, name),
                definition_body=sfn.DefinitionBody.from_string(json.dumps(definition)),
                role=role,
                tracing_enabled=True,
                logs=sfn.LogOptions(
                    destination=self.log_group,
                    level=sfn.LogLevel.ALL,
                    include_execution_data=True,
                ),
            )
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "CloudWatch Logs delivery (logs:CreateLogDelivery and related) and X-Ray "
                "(PutTraceSegments, GetSamplingRules) have no resource-level permissions; "
                "Step Functions logging and tracing need them on '*'.",
            )

    @property
    def arns(self) -> list[str]:
        return [machine.state_machine_arn for machine in self.state_machines.values()]


def _construct_id(workflow_name: str) -> str:
    """``activate-resource`` → ``ActivateResource``."""
    return "".join(part.capitalize() for part in workflow_name.replace("_", "-").split("-"))
