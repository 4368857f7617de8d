"""The Augury stack: storage, functions, workflows and the API, wired; settings from context.

Context keys (``cdk deploy -c key=value`` or ``cdk.json``):

====================  =========  ==================================================
key                   default    meaning
====================  =========  ==================================================
``prefix``            augury-    state machine name prefix (``<prefix><workflow>``)
``removalPolicy``     retain     retain | destroy | snapshot, for data and logs
``throttleRateLimit`` 100        API steady-state requests per second
``throttleBurstLimit`` 200       API burst
``bundle``            true       false: ship ``lambdas/`` without pip (tests)
====================  =========  ==================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import App, CfnOutput, Duration, Environment, RemovalPolicy, Stack, Tags
from constructs import Construct, Node

from augury_cdk.api import SERVICES, AuguryApi
from augury_cdk.checks import add_checks
from augury_cdk.functions import (
    PythonFunctions,
    grant_data,
    grant_state_machine_start,
    lambda_code,
    stack_environment,
)
from augury_cdk.storage import Storage
from augury_cdk.workflows import WorkflowStateMachines

STACK_NAME = "Augury"
FEATURE_FLAGS: dict[str, Any] = {
    # Grant S3 server access log delivery by bucket policy rather than the
    # LogDeliveryWrite ACL, so every bucket can keep ACLs disabled.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


@dataclass(frozen=True)
class StackSettings:
    """What the context may change; everything else is a decision made in code."""

    prefix: str = "augury-"
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN
    throttle_rate_limit: float = 100.0
    throttle_burst_limit: int = 200
    bundle: bool = True

    @classmethod
    def from_context(cls, node: Node) -> StackSettings:
        """Read context; CLI values arrive as strings, ``cdk.json`` values as JSON."""
        default = cls()

        def get(key: str, fallback: Any) -> Any:
            value = node.try_get_context(key)
            return fallback if value is None or value == "" else value

        policy = str(get("removalPolicy", "retain")).strip().upper()
        if policy not in RemovalPolicy.__members__:
            raise ValueError(f"context removalPolicy={policy!r}: use retain, destroy or snapshot")
        return cls(
            prefix=str(get("prefix", default.prefix)),
            removal_policy=RemovalPolicy[policy],
            throttle_rate_limit=float(get("throttleRateLimit", default.throttle_rate_limit)),
            throttle_burst_limit=int(get("throttleBurstLimit", default.throttle_burst_limit)),
            bundle=_flag(get("bundle", default.bundle)),
        )


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("false", "0", "no", "off")


class AuguryStack(Stack):
    """Everything Augury needs in one account and region."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Augury: open-source Amazon Forecast and Amazon Personalize",
            **kwargs,
        )
        self.settings = settings
        self.storage = Storage(self, "Storage", removal_policy=settings.removal_policy)
        functions = PythonFunctions(
            self,
            "Functions",
            code=lambda_code(settings.bundle),
            environment=stack_environment(self, self.storage, prefix=settings.prefix),
            removal_policy=settings.removal_policy,
        )
        self.workflow_step = functions.function(
            "WorkflowStep",
            handler="augury.handlers.workflow_step",
            description="Runs one step of an Augury workflow for Step Functions",
            timeout=Duration.minutes(5),
        )
        grant_data(self.workflow_step, self.storage)
        self.workflows = WorkflowStateMachines(
            self,
            "Workflows",
            step_function=self.workflow_step,
            prefix=settings.prefix,
            removal_policy=settings.removal_policy,
        )
        self.api_function = functions.function(
            "Api",
            handler="augury.handlers.api",
            description="Serves the Forecast and Personalize APIs behind API Gateway",
            timeout=Duration.seconds(29),  # API Gateway's integration limit
        )
        grant_data(self.api_function, self.storage)
        grant_state_machine_start(self.api_function, self.workflows.arns)
        self.api = AuguryApi(
            self,
            "Api",
            handler=self.api_function,
            throttle_rate_limit=settings.throttle_rate_limit,
            throttle_burst_limit=settings.throttle_burst_limit,
            removal_policy=settings.removal_policy,
        )
        self._outputs()

    def _outputs(self) -> None:
        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url, description="The REST API")
        for service in SERVICES:
            CfnOutput(
                self,
                "".join(part.capitalize() for part in service.split("-")) + "Endpoint",
                value=self.api.endpoint(service),
                description=f"endpoint_url for boto3.client('{service}')",
            )
        CfnOutput(self, "TableName", value=self.storage.table.table_name)
        CfnOutput(self, "BucketName", value=self.storage.bucket.bucket_name)


def build_app(context: Mapping[str, Any] | None = None) -> tuple[App, AuguryStack]:
    """The app ``cdk/app.py`` synthesizes (tests call it with their own context)."""
    app = App(context={**FEATURE_FLAGS, **(context or {})})
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    stack = AuguryStack(
        app,
        STACK_NAME,
        settings=StackSettings.from_context(app.node),
        env=Environment(account=account, region=region) if account and region else None,
    )
    Tags.of(app).add("project", "augury")
    add_checks(app)
    return app, stack
