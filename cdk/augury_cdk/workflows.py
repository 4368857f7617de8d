"""Workflows: one Step Functions state machine per workflow in ``augury.workflows.catalog``.

Each definition is ``augury.workflows.asl.compile_workflow`` of the same Python
``Workflow`` the embedded runner executes: there is no hand-written ASL and no
second copy of the steps. The state machines are named ``<prefix><workflow>``,
which is how ``augury.aws.stepfunctions_engine`` finds them.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, Fn, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from augury.workflows.asl import compile_workflow, state_machine_name
from augury.workflows.catalog import WORKFLOWS
from augury_cdk.checks import acknowledge
from augury_cdk.functions import LOG_RETENTION
from augury_cdk.grants import account_arn, service_principal

VENDED_LOGS = "/aws/vendedlogs/states/"
"""Log groups under this prefix need no entry in CloudWatch Logs' resource policy."""
STATE_MACHINES = "stateMachine:*"
"""Who may assume a workflow role: Step Functions acting for a state machine of this
account and region, the ``aws:SourceArn`` pattern Step Functions' guide gives ("Prevent
cross-service confused deputy issue"). Each machine's own ARN would be narrower, but the
guide documents only this pattern, and a condition Step Functions does not meet fails
the deployment (CreateStateMachine checks that it can assume the role); within the
account, ``iam:PassRole`` already decides who may give a machine which role."""


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
        # One log group for all of them, under /aws/vendedlogs/: Step Functions' log
        # delivery adds any other log group to the account's CloudWatch Logs resource
        # policy, whose 5,120 characters an account with other logged state machines
        # fills, and then creating the state machines fails. The stack's own ID ends
        # the name, so a retained group never blocks the next deployment's.
        stack_uuid = Fn.select(2, Fn.split("/", Aws.STACK_ID))
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"{VENDED_LOGS}{prefix}workflows-{stack_uuid}",
            retention=LOG_RETENTION,
            removal_policy=removal_policy,
        )
        self.state_machines: dict[str, sfn.StateMachine] = {}
        for name, workflow in sorted(WORKFLOWS.items()):
            construct = _construct_id(name)
            role = iam.Role(
                self,
                f"{construct}Role",
                assumed_by=service_principal(
                    "states", source_arn=account_arn("states", STATE_MACHINES)
                ),
                description=f"Augury workflow {name}: invokes the workflow-step function",
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"], resources=[step_function.function_arn]
                )
            )
            definition = compile_workflow(
                workflow, step_function.function_arn, partition=Aws.PARTITION
            )
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
