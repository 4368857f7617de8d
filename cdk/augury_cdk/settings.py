"""What an operator may choose per deployment, read from CDK context; the rest is decided in code.

Context comes from ``cdk.json``, ``cdk deploy -c key=value`` (values arrive as
strings) or, for ``python cdk/app.py``, the ``CDK_CONTEXT_JSON`` variable.
Every key is optional; a value that makes no sense fails the synth with the
key's name rather than deploying something surprising.

==============================  ================  ===========================================
key                             default           meaning
==============================  ================  ===========================================
``stackName``                   Augury            CloudFormation stack name
``prefix``                      augury-           names: state machines, stream, API, alarms, jobs
``removalPolicy``               retain            retain | destroy (data and logs)
``throttleRateLimit``           100               API steady-state requests per second
``throttleBurstLimit``          200               API burst
``waf``                         true              attach a WAF web ACL (request size limit)
``requestBodyLimitKb``          64                largest body WAF lets through (8-64 KB)
``forecastingInstanceType``     ml.m5.xlarge      SageMaker instance for forecasting jobs
``forecastingGpuInstanceType``  ml.g5.xlarge      for jobs training DeepAR+ or CNN-QR (GPU)
``personalizationInstanceType`` ml.m5.xlarge      for the non-deep Personalize recipes
``personalizationGpuInstanceType`` ml.g5.xlarge   for the deep recipes (GPU)
``spotTraining``                true              managed spot for CPU jobs (not GPU jobs)
``apiMemorySize``               1024              MB, control-plane API function
``servingMemorySize``           2048              MB, GetRecommendations / QueryForecast
``servingProvisionedConcurrency`` 0               warm serving instances per function
``workflowMemorySize``          3008              MB, the workflow-step function
``workflowReservedConcurrency`` 0                 instances kept for the workflow step (0: none)
``consumerReservedConcurrency`` 0                 instances kept for the event consumer (0: none)
``streamRetentionHours``        24                Kinesis retention (24-8760)
``consumerBatchSize``           100               records per consumer invocation
``consumerParallelization``     2                 concurrent batches per shard (1-10)
``historyTtlDays``              90                how long a user's recent events are kept
``historyMaxEvents``            500               recent events kept per user
``dataAccessRoleArns``          (tagged roles)    roles Augury may assume to reach users' S3
``alarmEmail``                  (none)            address subscribed to the alarm topic
``bundle``                      true              false: ship ``lambdas/`` without pip (tests)
==============================  ================  ===========================================

``dataAccessRoleArns`` is a comma-separated list of role ARNs (patterns
allowed). Empty, Augury may assume only this account's roles tagged
``augury:data-access=<prefix>`` (``augury-`` for the default stack): a role
trusting the account root is not enough, and one stack cannot use the roles
tagged for another.

``alarmEmail`` subscribes one address to the topic every alarm notifies
(``augury_cdk.alarms``); SNS emails it a confirmation link first. Without it
the topic has no subscriber: subscribe whatever the team uses (a pager, a chat
webhook, more addresses) to the ``AlarmTopicArn`` output.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from aws_cdk import RemovalPolicy
from constructs import Node

T = TypeVar("T")

INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[0-9]*[a-z]+$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|\*):role/[\w+=,.@/*-]+$")
NAME_PREFIX = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{0,30}$")
RESOURCE_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
"""Lower case only: SageMaker reports a training job's ARN in lower case, and IAM matches the
grants' ``training-job/<prefix>*`` case-sensitively, so ``Staging-`` would deny every job."""
EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
"""One address, roughly: SNS checks it for real when it sends the confirmation."""


@dataclass(frozen=True)
class StackSettings:
    """The deployment's choices, validated; defaults suit a first deployment."""

    stack_name: str = "Augury"
    prefix: str = "augury-"
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN
    throttle_rate_limit: float = 100.0
    throttle_burst_limit: int = 200
    waf: bool = True
    request_body_limit_kb: int = 64
    forecasting_instance_type: str = "ml.m5.xlarge"
    forecasting_gpu_instance_type: str = "ml.g5.xlarge"
    """One NVIDIA A10G (Ampere, 24 GB), like personalization's: native bf16 autocast,
    room for the deep models' batches; see docs/deploy.md for the alternatives."""
    personalization_instance_type: str = "ml.m5.xlarge"
    personalization_gpu_instance_type: str = "ml.g5.xlarge"
    spot_training: bool = True
    training_volume_size_gb: int = 30
    """The training jobs' storage volume: SageMaker copies every channel onto it, and the
    forecasting container writes a partitioned copy beside it, so datasets beyond about a
    third of it need more (docs/deploy.md)."""
    api_memory_size: int = 1024
    serving_memory_size: int = 2048
    serving_provisioned_concurrency: int = 0
    workflow_memory_size: int = 3008
    workflow_reserved_concurrency: int = 0
    """Concurrency reserved for the workflow step: it shares the region's pool with every
    function in the account, and a burst elsewhere would throttle training workflows
    (which then wait, docs/architecture.md). Reserving also caps it, so a flood of
    workflows cannot starve serving. 0 reserves nothing."""
    consumer_reserved_concurrency: int = 0
    """The same for the Kinesis consumer, whose instances follow the stream's shards."""
    stream_retention_hours: int = 24
    consumer_batch_size: int = 100
    consumer_parallelization: int = 2
    history_ttl_days: int = 90
    history_max_events: int = 500
    data_access_role_arns: tuple[str, ...] = ()
    alarm_email: str = ""
    bundle: bool = True

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            (
                "prefix",
                bool(RESOURCE_PREFIX.match(self.prefix)),
                "lower-case letters, digits, '-'; <= 31",
            ),
            ("stackName", bool(NAME_PREFIX.match(self.stack_name)), "letters, digits, '-'"),
            ("removalPolicy", self.removal_policy.name in REMOVAL_POLICIES, "retain or destroy"),
            ("throttleRateLimit", self.throttle_rate_limit > 0, "a positive number"),
            ("throttleBurstLimit", self.throttle_burst_limit > 0, "a positive integer"),
            ("requestBodyLimitKb", 8 <= self.request_body_limit_kb <= 64, "8 to 64"),
            ("apiMemorySize", 128 <= self.api_memory_size <= 10240, "128 to 10240"),
            ("servingMemorySize", 128 <= self.serving_memory_size <= 10240, "128 to 10240"),
            (
                "trainingVolumeSizeGb",
                1 <= self.training_volume_size_gb <= 16384,
                "1 to 16384 (SageMaker's VolumeSizeInGB)",
            ),
            ("workflowMemorySize", 128 <= self.workflow_memory_size <= 10240, "128 to 10240"),
            ("servingProvisionedConcurrency", self.serving_provisioned_concurrency >= 0, ">= 0"),
            ("workflowReservedConcurrency", self.workflow_reserved_concurrency >= 0, ">= 0"),
            ("consumerReservedConcurrency", self.consumer_reserved_concurrency >= 0, ">= 0"),
            ("streamRetentionHours", 24 <= self.stream_retention_hours <= 8760, "24 to 8760"),
            ("consumerBatchSize", 1 <= self.consumer_batch_size <= 10000, "1 to 10000"),
            ("consumerParallelization", 1 <= self.consumer_parallelization <= 10, "1 to 10"),
            ("historyTtlDays", self.history_ttl_days >= 1, "at least 1"),
            ("historyMaxEvents", self.history_max_events >= 1, "at least 1"),
            ("alarmEmail", not self.alarm_email or bool(EMAIL.match(self.alarm_email)), "an email"),
        ]
        for name in (
            "forecasting_instance_type",
            "forecasting_gpu_instance_type",
            "personalization_instance_type",
            "personalization_gpu_instance_type",
        ):
            value = getattr(self, name)
            checks.append((_camel(name), bool(INSTANCE_TYPE.match(value)), "e.g. ml.m5.xlarge"))
        for arn in self.data_access_role_arns:
            checks.append(("dataAccessRoleArns", bool(ROLE_ARN.match(arn)), "IAM role ARNs"))
        for key, ok, expected in checks:
            if not ok:
                raise ValueError(f"context {key}: expected {expected}")

    @classmethod
    def from_context(cls, node: Node) -> StackSettings:
        """Read every key from context, converting CLI strings to the field's type."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            key = _camel(field.name)
            raw = node.try_get_context(key)
            if raw is None or raw == "":
                continue
            values[field.name] = _PARSERS.get(field.name, _parser(field.type))(key, raw)
        return cls(**values)


def _camel(name: str) -> str:
    """``request_body_limit_kb`` → ``requestBodyLimitKb``: the context key of a field."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


REMOVAL_POLICIES = ("RETAIN", "DESTROY")
"""CloudFormation's ``Snapshot`` is refused: none of the stack's stateful resources
(buckets, tables, stream, queue, log groups) supports it, so the deployment would fail."""


def _removal_policy(key: str, raw: Any) -> RemovalPolicy:
    policy = str(raw).strip().upper()
    if policy not in REMOVAL_POLICIES:
        raise ValueError(f"context {key}={raw!r}: use retain or destroy")
    return RemovalPolicy[policy]


def _flag(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"context {key}={raw!r}: use true or false")


def _roles(key: str, raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _parser(kind: Any) -> Callable[[str, Any], Any]:
    convert: Callable[[Any], Any] = {"int": int, "float": float}.get(str(kind), str)

    def parse(key: str, raw: Any) -> Any:
        try:
            return convert(raw)
        except (TypeError, ValueError):
            raise ValueError(f"context {key}={raw!r}: expected a {kind}") from None

    return parse


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "removal_policy": _removal_policy,
    "waf": _flag,
    "spot_training": _flag,
    "bundle": _flag,
    "data_access_role_arns": _roles,
}
