"""Context changes the deployment: every non-default choice at once, on one synthesis.

Also the pieces that need no synthesis: parsing context as the CLI passes it
(strings), refusing nonsense with the key's name, and pruning the Lambda bundle.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, RemovalPolicy
from cdk_nag import AwsSolutionsChecks

from augury.workflows.asl import state_machine_name
from augury_cdk.functions import LAMBDA_UNZIPPED_LIMIT, prune_bundle
from augury_cdk.settings import StackSettings
from augury_cdk.stack import build_app
from tests.cdk.conftest import Synthesized, synthesize

pytestmark = pytest.mark.timeout(180)

PARTNER_ROLE = "arn:aws:iam::123456789012:role/forecast-data-access"
CONTEXT = {
    "stackName": "AuguryDev",
    "prefix": "dev-augury-",
    "removalPolicy": "destroy",
    "throttleRateLimit": "25",
    "throttleBurstLimit": "50",
    "waf": "false",
    "forecastingInstanceType": "ml.c5.4xlarge",
    "forecastingGpuInstanceType": "ml.g4dn.2xlarge",
    "personalizationGpuInstanceType": "ml.g6.2xlarge",
    "spotTraining": "false",
    "trainingVolumeSizeGb": "200",
    "servingMemorySize": "4096",
    "servingProvisionedConcurrency": "2",
    "workflowReservedConcurrency": "20",
    "consumerReservedConcurrency": "4",
    "streamRetentionHours": "48",
    "consumerParallelization": "1",
    "historyTtlDays": "30",
    "dataAccessRoleArns": f"{PARTNER_ROLE}, arn:aws:iam::123456789012:role/augury/*",
    "alarmEmail": "ops@example.com",
}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(CONTEXT, tmp_path_factory.mktemp("cdk.out"))


def test_the_alternative_stack_is_cdk_nag_clean_too(synth: Synthesized) -> None:
    report = AwsSolutionsChecks().validate_scope(synth.stack)
    findings = [
        f"{violation.rule_name} at {resource.construct_path}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]
    assert findings == [], "\n".join(findings)
    assert synth.error is None, f"synth failed: {synth.error}"
    assert synth.stack.stack_name == "AuguryDev"


def test_names_follow_the_prefix(synth: Synthesized) -> None:
    names = {
        m["Properties"]["StateMachineName"]
        for m in synth.of_type("AWS::StepFunctions::StateMachine").values()
    }
    assert state_machine_name("dev-augury-", "train-predictor") in names
    (stream,) = synth.of_type("AWS::Kinesis::Stream").values()
    assert stream["Properties"]["Name"] == "dev-augury-events"
    assert stream["Properties"]["RetentionPeriodHours"] == 48
    for function in synth.of_type("AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["AUGURY_WORKFLOWS"] == "stepfunctions://dev-augury-"
        assert "?ttl_days=30&" in json.dumps(variables["AUGURY_HISTORY"])


def test_training_jobs_follow_the_prefix(synth: Synthesized) -> None:
    """Another stack's jobs are out of reach: trust, grants and job names share the prefix."""
    stack = synth.stack
    trust = synth.resources[synth.logical_id(stack.trainers.role)]["Properties"]
    assert ':training-job/dev-augury-*"' in json.dumps(trust["AssumeRolePolicyDocument"])
    for role in (stack.workflow_step.role, stack.api_function.role):
        grants = [s for s in synth.statements(role) if "sagemaker:StopTrainingJob" in s["Action"]]
        assert grants
        for statement in grants:
            assert json.dumps(statement["Resource"]).endswith(':training-job/dev-augury-*"]]}')
    for function in synth.of_type("AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["AUGURY_JOB_PREFIX"] == "dev-augury-"


def test_alarm_email_is_subscribed_and_alarm_names_follow_the_prefix(synth: Synthesized) -> None:
    (subscription,) = synth.of_type("AWS::SNS::Subscription").values()
    topic = {"Ref": synth.logical_id(synth.stack.alarms.topic)}
    assert subscription["Properties"] == {
        "Protocol": "email",
        "Endpoint": "ops@example.com",
        "TopicArn": topic,
    }
    names = [a["Properties"]["AlarmName"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]
    assert names and all(name.startswith("dev-augury-") for name in names)
    assert "dev-augury-workflow-train-predictor-failed" in names
    (policy,) = synth.of_type("AWS::SNS::TopicPolicy").values()
    allow = policy["Properties"]["PolicyDocument"]["Statement"][-1]
    assert json.dumps(allow["Condition"]["ArnLike"]).endswith(':alarm:dev-augury-*"]]}}')
    (api,) = synth.of_type("AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["Name"] == "dev-augury-api"


def test_destroy_removes_data_and_drops_deletion_protection(synth: Synthesized) -> None:
    for kind in ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Kinesis::Stream"):
        for resource in synth.of_type(kind).values():
            assert resource["DeletionPolicy"] == "Delete", kind
    for table in synth.of_type("AWS::DynamoDB::Table").values():
        assert table["Properties"].get("DeletionProtectionEnabled") in (None, False)


def test_without_waf_there_is_no_web_acl_and_throttling_follows_context(
    synth: Synthesized,
) -> None:
    assert not synth.of_type("AWS::WAFv2::WebACL")
    assert not synth.of_type("AWS::WAFv2::WebACLAssociation")
    (stage,) = synth.of_type("AWS::ApiGateway::Stage").values()
    (settings,) = stage["Properties"]["MethodSettings"]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (25, 50)


def test_instance_types_and_spot_reach_the_trainer_uri(synth: Synthesized) -> None:
    function = synth.resources[synth.logical_id(synth.stack.workflow_step)]
    parts = function["Properties"]["Environment"]["Variables"]["AUGURY_TRAINER"]["Fn::Join"][1]
    text = "".join(p for p in parts if isinstance(p, str))
    assert "instance.forecasting=ml.c5.4xlarge" in text
    assert "gpu_instance.forecasting=ml.g4dn.2xlarge" in text
    assert "instance.personalization=ml.m5.xlarge" in text
    assert "gpu_instance.personalization=ml.g6.2xlarge" in text
    assert "spot.forecasting=false" in text and "spot.personalization=false" in text
    assert "volume_gb=200" in text


def test_serving_uses_warm_aliases_with_more_memory(synth: Synthesized) -> None:
    aliases = synth.of_type("AWS::Lambda::Alias")
    assert len(aliases) == 2
    for alias in aliases.values():
        assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {
            "ProvisionedConcurrentExecutions": 2
        }
    for service in ("personalize-runtime", "forecastquery"):
        uri = json.dumps(_integration_of(synth, service))
        assert any(alias in uri for alias in aliases), service
    for function in synth.stack.serving_functions.values():
        assert synth.resources[synth.logical_id(function)]["Properties"]["MemorySize"] == 4096


def _integration_of(synth: Synthesized, service: str) -> object:
    """The integration URI of the one POST method under the service's base path."""
    base = synth.logical_id(synth.stack.api.resources[service])
    for method in synth.of_type("AWS::ApiGateway::Method").values():
        resource = method["Properties"]["ResourceId"]["Ref"]
        parent = synth.resources[resource]["Properties"].get("ParentId")
        if base in (resource, (parent or {}).get("Ref")):
            return method["Properties"]["Integration"]["Uri"]
    raise AssertionError(f"no method for {service}")


def test_listed_data_access_roles_replace_the_tag_rule(synth: Synthesized) -> None:
    (statement,) = [
        s
        for s in synth.statements(synth.stack.workflow_step.role)
        if "sts:AssumeRole" in s["Action"]
    ]
    assert statement["Resource"] == [PARTNER_ROLE, "arn:aws:iam::123456789012:role/augury/*"]
    assert "Condition" not in statement


def test_consumer_parallelization_follows_context(synth: Synthesized) -> None:
    (mapping,) = synth.of_type("AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["ParallelizationFactor"] == 1


def test_a_template_cloudformation_would_reject_fails_the_synth(tmp_path: Path) -> None:
    app, stack = build_app({"bundle": "false"}, outdir=str(tmp_path))
    stack.storage.bucket.apply_removal_policy(RemovalPolicy.SNAPSHOT)  # S3 has no snapshots
    with pytest.raises(Exception, match="DeletionPolicy must be one of"):
        app.synth()


# -- no synthesis ---------------------------------------------------------------------------


def test_context_strings_from_the_cli_become_typed_settings() -> None:
    settings = StackSettings.from_context(App(context=CONTEXT).node)
    assert settings.removal_policy == RemovalPolicy.DESTROY
    assert settings.throttle_rate_limit == 25.0 and settings.throttle_burst_limit == 50
    assert settings.waf is False and settings.spot_training is False
    assert settings.serving_provisioned_concurrency == 2
    assert (settings.workflow_reserved_concurrency, settings.consumer_reserved_concurrency) == (
        20,
        4,
    )
    assert settings.alarm_email == "ops@example.com"
    assert settings.data_access_role_arns == (
        PARTNER_ROLE,
        "arn:aws:iam::123456789012:role/augury/*",
    )
    assert StackSettings.from_context(App().node) == StackSettings()
    json_context = {"waf": False, "throttleRateLimit": 10, "dataAccessRoleArns": [PARTNER_ROLE]}
    settings = StackSettings.from_context(App(context=json_context).node)  # cdk.json types
    assert (settings.waf, settings.throttle_rate_limit) == (False, 10.0)
    assert settings.data_access_role_arns == (PARTNER_ROLE,)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("removalPolicy", "keep"),
        ("removalPolicy", "snapshot"),  # no resource here supports it: CloudFormation fails
        ("waf", "maybe"),
        ("throttleRateLimit", "fast"),
        ("requestBodyLimitKb", "128"),
        ("trainingVolumeSizeGb", "0"),
        ("forecastingInstanceType", "m5.xlarge"),
        ("forecastingGpuInstanceType", "g5.xlarge"),
        ("consumerParallelization", "11"),
        ("streamRetentionHours", "12"),
        ("prefix", "augury_"),
        ("prefix", "Staging-"),  # SageMaker's job ARNs are lower case: no grant would match
        ("dataAccessRoleArns", "arn:aws:s3:::bucket"),
        ("alarmEmail", "ops"),
        ("alarmEmail", "ops@example.com,oncall@example.com"),
    ],
)
def test_nonsense_context_fails_naming_the_key(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=key):
        StackSettings.from_context(App(context={key: value}).node)


def test_pruning_removes_what_augury_never_loads_and_keeps_the_rest(tmp_path: Path) -> None:
    keep = [
        "pyarrow/libarrow.so.2600",
        "pyarrow/libarrow_python.so.2600",
        "pyarrow/_parquet.cpython-313-x86_64-linux-gnu.so",
        "numpy/_core/_multiarray_umath.cpython-313-x86_64-linux-gnu.so",
        "augury/handlers.py",
    ]
    drop = [
        "pyarrow/libarrow_flight.so.2600",
        "pyarrow/libarrow_python_flight.so.2600.1.0",
        "pyarrow/_flight.cpython-313-x86_64-linux-gnu.so",
        "pyarrow/libarrow_python.so",
        "pyarrow/libarrow_python.so.2600.1.0",
        "pyarrow/include/arrow/api.h",
        "pyarrow/tests/test_table.py",
        "numpy/_core/tests/test_umath.py",
        "pyarrow/lib.pyx",
    ]
    for name in keep + drop:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
    size = prune_bundle(tmp_path)
    assert sorted(
        str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()
    ) == sorted(keep)
    assert size == 10 * len(keep) < LAMBDA_UNZIPPED_LIMIT


def test_reserved_concurrency_keeps_instances_for_the_workflow_step_and_the_consumer(
    synth: Synthesized,
) -> None:
    """The workflow step and the consumer share the region's concurrency with every
    function in the account; context reserves (and caps) theirs. By default nothing is
    reserved, so a fresh account's small pool is not split."""
    stack = synth.stack
    functions = synth.of_type("AWS::Lambda::Function")
    reserved = {
        name: function["Properties"].get("ReservedConcurrentExecutions")
        for name, function in functions.items()
    }
    assert reserved[synth.logical_id(stack.workflow_step)] == 20
    assert reserved[synth.logical_id(stack.consumer)] == 4
    assert reserved[synth.logical_id(stack.api_function)] is None
