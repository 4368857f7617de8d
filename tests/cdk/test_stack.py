"""The CDK app: template assertions and cdk-nag, on one synthesis per module.

Synthesis takes seconds, so the app is built once (``bundle=false``: the Lambda
code is ``lambdas/`` as it is, and pip never runs). Building it adds cdk-nag's
AWS Solutions checks, and with cdk-nag 3 an unacknowledged error or warning
fails ``synth()``: the fixture's synth succeeding is itself the nag check, and
``test_cdk_nag_reports_nothing_unacknowledged`` says what it found if it fails.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "cdk"))

from aws_cdk import App, RemovalPolicy
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

from augury.workflows.asl import state_machine_name
from augury.workflows.catalog import WORKFLOWS
from augury_cdk.stack import AuguryStack, StackSettings, build_app

pytestmark = pytest.mark.timeout(120)

SERVICES = ("forecast", "forecastquery", "personalize", "personalize-runtime", "personalize-events")


@pytest.fixture(scope="module")
def synthesized() -> tuple[AuguryStack, Exception | None]:
    """The app, synthesized once; a synth error (cdk-nag findings) is kept, not raised."""
    app, stack = build_app({"bundle": "false", "prefix": "augury-"})
    try:
        app.synth()
    except Exception as error:
        return stack, error
    return stack, None


@pytest.fixture(scope="module")
def stack(synthesized: tuple[AuguryStack, Exception | None]) -> AuguryStack:
    return synthesized[0]


@pytest.fixture(scope="module")
def template(stack: AuguryStack) -> Template:
    return Template.from_stack(stack)


def _resources(template: Template, kind: str) -> dict[str, Any]:
    return template.find_resources(kind)


def test_cdk_nag_reports_nothing_unacknowledged(
    synthesized: tuple[AuguryStack, Exception | None],
) -> None:
    stack, error = synthesized
    report = AwsSolutionsChecks().validate_scope(stack)
    findings = [
        f"{violation.rule_name} ({violation.severity}) at {resource.construct_path}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]
    assert findings == [], "\n".join(findings)
    assert error is None, f"synth failed: {error}"
    annotations = Annotations.from_stack(stack)
    for found in (annotations.find_error, annotations.find_warning):
        assert found("*", Match.string_like_regexp("AwsSolutions-.*")) == []
        assert found("*", Match.any_value()) == []  # nor any CDK warning (deprecations)


def test_data_bucket_is_encrypted_private_versioned_logged_and_ssl_only(
    template: Template,
) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": Match.any_value()}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "data/"}),
        },
    )
    for bucket in _resources(template, "AWS::S3::Bucket").values():
        assert bucket["UpdateReplacePolicy"] == "Retain"
        assert bucket["DeletionPolicy"] == "Retain"
        assert "AccessControl" not in bucket["Properties"]  # ACLs stay disabled
    policies = _resources(template, "AWS::S3::BucketPolicy")
    assert len(policies) == len(_resources(template, "AWS::S3::Bucket"))
    for policy in policies.values():
        assert {
            "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
        }.items() <= policy["Properties"]["PolicyDocument"]["Statement"][0].items()


def test_resources_table_is_on_demand_recoverable_encrypted_with_both_indexes(
    template: Template,
) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "KeySchema": [{"AttributeName": "arn", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": Match.array_with(
                [
                    Match.object_like(
                        {
                            "IndexName": "by-kind",
                            "KeySchema": [
                                {"AttributeName": "kind", "KeyType": "HASH"},
                                {"AttributeName": "sort_key", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    ),
                    Match.object_like(
                        {
                            "IndexName": "by-parent",
                            "KeySchema": [
                                {"AttributeName": "parent_arn", "KeyType": "HASH"},
                                {"AttributeName": "sort_key", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    ),
                ]
            ),
        },
    )
    (table,) = _resources(template, "AWS::DynamoDB::Table").values()
    assert table["DeletionPolicy"] == "Retain"


def test_every_api_method_requires_sigv4(template: Template) -> None:
    methods = _resources(template, "AWS::ApiGateway::Method")
    assert len(methods) == len(SERVICES)
    for method in methods.values():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
        assert method["Properties"]["Integration"]["Type"] == "AWS_PROXY"
    assert not _resources(template, "AWS::Lambda::Url")


def test_the_five_base_paths_exist(template: Template) -> None:
    parts = {
        resource["Properties"]["PathPart"]
        for resource in _resources(template, "AWS::ApiGateway::Resource").values()
    }
    assert set(SERVICES) <= parts
    assert "{proxy+}" in parts


def test_json_services_require_a_target_header(template: Template) -> None:
    required = [
        method
        for method in _resources(template, "AWS::ApiGateway::Method").values()
        if method["Properties"].get("RequestParameters")
        == {"method.request.header.X-Amz-Target": True}
    ]
    assert len(required) == 3
    assert all("RequestValidatorId" in method["Properties"] for method in required)


def test_stage_logs_traces_and_throttles(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "LoggingLevel": "INFO",
                            "ThrottlingRateLimit": 100,
                            "ThrottlingBurstLimit": 200,
                            "HttpMethod": "*",
                            "ResourcePath": "/*",
                        }
                    )
                ]
            ),
        },
    )


def test_one_state_machine_per_workflow_compiled_from_its_definition(
    template: Template,
) -> None:
    machines = {
        machine["Properties"]["StateMachineName"]: machine["Properties"]
        for machine in _resources(template, "AWS::StepFunctions::StateMachine").values()
    }
    assert set(machines) == {state_machine_name("augury-", name) for name in WORKFLOWS}
    for name, workflow in WORKFLOWS.items():
        machine = machines[state_machine_name("augury-", name)]
        definition = json.dumps(machine["DefinitionString"])
        for step in workflow.steps:
            assert f'\\"step\\": \\"{step.name}\\"' in definition
        assert "arn:aws:states:::lambda:invoke" in definition
        assert machine["TracingConfiguration"] == {"Enabled": True}
        assert machine["LoggingConfiguration"]["Level"] == "ALL"


def test_state_machine_roles_may_only_invoke_the_workflow_step_function(
    template: Template,
) -> None:
    functions = _resources(template, "AWS::Lambda::Function")
    (step_function,) = [
        logical_id
        for logical_id, function in functions.items()
        if function["Properties"]["Handler"] == "augury.handlers.workflow_step"
    ]
    machine_roles = {
        machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
        for machine in _resources(template, "AWS::StepFunctions::StateMachine").values()
    }
    for policy in _resources(template, "AWS::IAM::Policy").values():
        roles = {role["Ref"] for role in policy["Properties"]["Roles"]}
        if not roles & machine_roles:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = _list(statement["Action"])
            if any(action.startswith("lambda:") for action in actions):
                assert actions == ["lambda:InvokeFunction"]
                assert statement["Resource"] == {"Fn::GetAtt": [step_function, "Arn"]}
            else:  # log delivery and X-Ray only
                assert all(re.match(r"^(logs|xray):", action) for action in actions), actions


def test_functions_are_traced_and_configured_for_aws(template: Template) -> None:
    functions = _resources(template, "AWS::Lambda::Function")
    handlers = {function["Properties"]["Handler"] for function in functions.values()}
    assert handlers == {"augury.handlers.api", "augury.handlers.workflow_step"}
    for function in functions.values():
        properties = function["Properties"]
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["Runtime"] in ("python3.12", "python3.13")
        assert properties["Architectures"] == ["x86_64"]
        variables = properties["Environment"]["Variables"]
        for name in ("AUGURY_METADATA", "AUGURY_BLOBS", "AUGURY_REGION", "AUGURY_ACCOUNT"):
            assert name in variables
        assert variables["AUGURY_WORKFLOWS"] == "stepfunctions://augury-"
        assert "LogGroup" in properties["LoggingConfig"]


def test_only_the_api_function_may_start_workflows_and_only_augurys(template: Template) -> None:
    machines = set(_resources(template, "AWS::StepFunctions::StateMachine"))
    starters = []
    for policy in _resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "states:StartExecution" in _list(statement["Action"]):
                starters.append(policy["Properties"]["Roles"])
                assert {ref["Ref"] for ref in statement["Resource"]} == machines
    assert len(starters) == 1


def test_outputs_name_the_api_endpoints_table_and_bucket(template: Template) -> None:
    outputs = template.to_json()["Outputs"]
    assert {
        "ApiUrl",
        "ForecastEndpoint",
        "ForecastqueryEndpoint",
        "PersonalizeEndpoint",
        "PersonalizeRuntimeEndpoint",
        "PersonalizeEventsEndpoint",
        "TableName",
        "BucketName",
    } <= set(outputs)
    forecast = json.dumps(outputs["ForecastEndpoint"]["Value"])
    assert forecast.endswith('"/forecast"]]}')


def _list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def test_context_settings_parse_cli_strings_and_refuse_nonsense() -> None:
    app = App(
        context={
            "removalPolicy": "destroy",
            "throttleRateLimit": "25",
            "throttleBurstLimit": "50",
            "prefix": "dev-augury-",
            "bundle": "false",
        }
    )
    settings = StackSettings.from_context(app.node)
    assert settings == StackSettings(
        prefix="dev-augury-",
        removal_policy=RemovalPolicy.DESTROY,
        throttle_rate_limit=25.0,
        throttle_burst_limit=50,
        bundle=False,
    )
    assert StackSettings.from_context(App().node) == StackSettings()
    with pytest.raises(ValueError, match="removalPolicy"):
        StackSettings.from_context(App(context={"removalPolicy": "keep"}).node)
