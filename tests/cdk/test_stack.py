"""The default stack, resource by resource: what a production review checks, on one synthesis.

cdk-nag runs inside the synth (see conftest); the rest asserts the template:
storage durability and encryption, the API's authorization and limits, the
ingestion path's failure handling, the trainers, the serving split, and each
role's policy against the adapter calls it serves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks

from augury.aws.dynamodb_history import TTL_ATTRIBUTE
from augury.workflows.asl import state_machine_name
from augury.workflows.catalog import WORKFLOWS
from tests.cdk.conftest import Synthesized, account_arn, as_list, synthesize

pytestmark = pytest.mark.timeout(180)

SERVICES = ("forecast", "forecastquery", "personalize", "personalize-runtime", "personalize-events")
WRITE_ACTIONS = re.compile(r":(Put|Delete|Update|Create|Start|Stop|Send|BatchWrite|Abort|Pass)")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize({}, tmp_path_factory.mktemp("cdk.out"))


def test_cdk_nag_reports_nothing_unacknowledged(synth: Synthesized) -> None:
    report = AwsSolutionsChecks().validate_scope(synth.stack)
    findings = [
        f"{violation.rule_name} ({violation.severity}) at {resource.construct_path}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]
    assert findings == [], "\n".join(findings)
    assert synth.error is None, f"synth failed: {synth.error}"
    annotations = Annotations.from_stack(synth.stack)
    for found in (annotations.find_error, annotations.find_warning):
        assert found("*", Match.string_like_regexp("AwsSolutions-.*")) == []
        assert found("*", Match.any_value()) == []  # nor any CDK warning (deprecations)


# -- storage --------------------------------------------------------------------------------


def test_buckets_are_encrypted_private_ssl_only_and_retained(synth: Synthesized) -> None:
    synth.template.has_resource_properties(
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
    buckets = synth.of_type("AWS::S3::Bucket")
    for bucket in buckets.values():
        assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
        assert "AccessControl" not in bucket["Properties"]  # ACLs stay disabled
    policies = synth.of_type("AWS::S3::BucketPolicy")
    assert len(policies) == len(buckets)
    for policy in policies.values():
        assert {
            "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
        }.items() <= policy["Properties"]["PolicyDocument"]["Statement"][0].items()


def test_both_tables_are_on_demand_recoverable_encrypted_protected_and_retained(
    synth: Synthesized,
) -> None:
    tables = synth.of_type("AWS::DynamoDB::Table")
    assert set(tables) == {
        synth.logical_id(synth.stack.storage.table),
        synth.logical_id(synth.stack.storage.history_table),
    }
    for table in tables.values():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert properties["SSESpecification"] == {"SSEEnabled": True}
        assert properties["DeletionProtectionEnabled"] is True
        assert table["DeletionPolicy"] == "Retain"


def test_resources_table_has_the_adapters_keys_and_both_indexes(synth: Synthesized) -> None:
    table = synth.resources[synth.logical_id(synth.stack.storage.table)]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "arn", "KeyType": "HASH"}]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert indexes["by-kind"]["KeySchema"] == [
        {"AttributeName": "kind", "KeyType": "HASH"},
        {"AttributeName": "sort_key", "KeyType": "RANGE"},
    ]
    assert indexes["by-parent"]["KeySchema"][0] == {
        "AttributeName": "parent_arn",
        "KeyType": "HASH",
    }
    assert "TimeToLiveSpecification" not in table  # resources never expire


def test_history_table_expires_items_on_the_adapters_ttl_attribute(synth: Synthesized) -> None:
    table = synth.resources[synth.logical_id(synth.stack.storage.history_table)]["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


# -- API ------------------------------------------------------------------------------------


def test_every_api_method_requires_sigv4_and_nothing_bypasses_the_api(synth: Synthesized) -> None:
    methods = synth.of_type("AWS::ApiGateway::Method")
    assert len(methods) == len(SERVICES)
    for method in methods.values():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
        assert method["Properties"]["Integration"]["Type"] == "AWS_PROXY"
    assert not synth.of_type("AWS::Lambda::Url")
    parts = {
        r["Properties"]["PathPart"] for r in synth.of_type("AWS::ApiGateway::Resource").values()
    }
    assert set(SERVICES) <= parts and "{proxy+}" in parts


def test_json_services_require_a_target_header(synth: Synthesized) -> None:
    required = [
        method
        for method in synth.of_type("AWS::ApiGateway::Method").values()
        if method["Properties"].get("RequestParameters")
        == {"method.request.header.X-Amz-Target": True}
    ]
    assert len(required) == 3
    assert all("RequestValidatorId" in method["Properties"] for method in required)


def test_stage_logs_traces_and_throttles(synth: Synthesized) -> None:
    synth.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "LoggingLevel": "INFO",
                            "DataTraceEnabled": False,  # bodies carry users' data
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
    (stage,) = synth.of_type("AWS::ApiGateway::Stage").values()
    line = json.loads(stage["Properties"]["AccessLogSetting"]["Format"])
    # the api-5xx alarm sends on-call to these lines: who called, and why it failed
    assert line["userArn"] == "$context.identity.userArn"
    assert line["errorMessage"] == "$context.error.message"
    assert line["integrationError"] == "$context.integrationErrorMessage"
    assert line["status"] == "$context.status"


def test_waf_limits_request_bodies_on_the_stage(synth: Synthesized) -> None:
    (acl,) = synth.of_type("AWS::WAFv2::WebACL").values()
    properties = acl["Properties"]
    assert properties["Scope"] == "REGIONAL" and properties["DefaultAction"] == {"Allow": {}}
    assert properties["AssociationConfig"]["RequestBody"]["API_GATEWAY"] == {
        "DefaultSizeInspectionLimit": "KB_64"
    }
    (rule,) = properties["Rules"]
    assert rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 413
    too_large, not_exempt = rule["Statement"]["AndStatement"]["Statements"]
    size = too_large["SizeConstraintStatement"]
    assert (size["ComparisonOperator"], size["Size"]) == ("GT", 64 * 1024)
    assert size["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    exempt = re.compile(
        not_exempt["NotStatement"]["Statement"]["RegexMatchStatement"]["RegexString"]
    )
    assert exempt.search("/v1/personalize-events/items")
    assert exempt.search("/v1/personalize-runtime/personalize-ranking")
    assert not exempt.search("/v1/personalize-events/events")
    assert not exempt.search("/v1/personalize")
    (association,) = synth.of_type("AWS::WAFv2::WebACLAssociation").values()
    stage = synth.logical_id(synth.stack.api.rest_api.deployment_stage)
    assert {"Ref": stage} in association["Properties"]["ResourceArn"]["Fn::Join"][1]


def test_the_api_is_named_after_the_prefix(synth: Synthesized) -> None:
    # API Gateway keys its metrics by the API's name: two stacks' APIs must not share one.
    api = synth.resources[synth.logical_id(synth.stack.api.rest_api)]
    assert api["Properties"]["Name"] == "augury-api"


def test_serving_paths_go_to_their_own_functions(synth: Synthesized) -> None:
    stack = synth.stack
    expected = {
        "forecast": stack.api_function,
        "personalize": stack.api_function,
        "personalize-events": stack.events_function,
        "personalize-runtime": stack.serving_functions["personalize-runtime"],
        "forecastquery": stack.serving_functions["forecastquery"],
    }
    for service, function in expected.items():
        resource = synth.logical_id(stack.api.resources[service])
        method = next(
            m["Properties"]
            for m in synth.of_type("AWS::ApiGateway::Method").values()
            if _method_under(m["Properties"], resource, synth)
        )
        assert synth.logical_id(function) in json.dumps(method["Integration"]["Uri"]), service


def _method_under(method: dict[str, Any], resource: str, synth: Synthesized) -> bool:
    parent = method["ResourceId"]["Ref"]
    if parent == resource:
        return True
    path = synth.resources[parent]["Properties"]
    return path.get("ParentId") == {"Ref": resource}


# -- functions ------------------------------------------------------------------------------


def test_functions_are_traced_and_share_the_aws_configuration(synth: Synthesized) -> None:
    functions = synth.of_type("AWS::Lambda::Function")
    handlers = sorted(f["Properties"]["Handler"] for f in functions.values())
    assert handlers == [
        "augury.handlers.api",
        "augury.handlers.api",
        "augury.handlers.api",
        "augury.handlers.api",
        "augury.handlers.compact_events",
        "augury.handlers.events",
        "augury.handlers.retrain_recommenders",
        "augury.handlers.workflow_step",
    ]
    for function in functions.values():
        properties = function["Properties"]
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["Runtime"] in ("python3.12", "python3.13")
        assert properties["Architectures"] == ["x86_64"]
        assert "LogGroup" in properties["LoggingConfig"]
        variables = properties["Environment"]["Variables"]
        assert variables["AUGURY_WORKFLOWS"] == "stepfunctions://augury-"
        assert variables["AUGURY_EXTERNAL"] == "s3://"
        # the deployed partition, so state machine ARNs hold in aws-cn and aws-us-gov too
        assert variables["AUGURY_PARTITION"] == {"Ref": "AWS::Partition"}
        history = json.dumps(variables["AUGURY_HISTORY"])
        assert synth.logical_id(synth.stack.storage.history_table) in history
        assert "?ttl_days=90&max_events=500" in history
        assert synth.logical_id(synth.stack.ingestion.stream) in json.dumps(
            variables["AUGURY_EVENTS"]
        )
        assert "kinesis://" in json.dumps(variables["AUGURY_EVENTS"])


def test_serving_functions_have_more_memory_and_room_for_models(synth: Synthesized) -> None:
    for function in synth.stack.serving_functions.values():
        properties = synth.resources[synth.logical_id(function)]["Properties"]
        assert properties["MemorySize"] == 2048
        assert properties["EphemeralStorage"] == {"Size": 2048}
        assert properties["Timeout"] <= 29
    api = synth.resources[synth.logical_id(synth.stack.api_function)]["Properties"]
    assert api["MemorySize"] == 1024 and api["Timeout"] <= 29


def test_log_groups_expire(synth: Synthesized) -> None:
    for group in synth.of_type("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30


def test_stage_execution_logs_go_to_a_group_the_stack_owns_before_the_stage_exists(
    synth: Synthesized,
) -> None:
    api = synth.stack.api
    group = synth.resources[synth.logical_id(api.execution_logs)]
    assert group["Properties"]["LogGroupName"] == {
        "Fn::Join": [
            "",
            [
                "API-Gateway-Execution-Logs_",
                {"Ref": synth.logical_id(api.rest_api)},
                "/v1",
            ],
        ]
    }
    assert group["Properties"]["RetentionInDays"] == 30
    assert group["DeletionPolicy"] == "Retain"
    stage = synth.resources[synth.logical_id(api.rest_api.deployment_stage)]
    assert synth.logical_id(api.execution_logs) in stage["DependsOn"]


# -- ingestion ------------------------------------------------------------------------------


def test_event_stream_is_on_demand_encrypted_and_named_from_the_prefix(synth: Synthesized) -> None:
    (stream,) = synth.of_type("AWS::Kinesis::Stream").values()
    assert stream["Properties"]["Name"] == "augury-events"
    assert stream["Properties"]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert stream["Properties"]["StreamEncryption"] == {
        "EncryptionType": "KMS",
        "KeyId": "alias/aws/kinesis",
    }
    assert stream["Properties"]["RetentionPeriodHours"] == 24
    # transient: deleted with the stack even when data is retained, or its fixed name
    # would block the next deploy
    assert stream["DeletionPolicy"] == "Delete"
    (queue,) = synth.of_type("AWS::SQS::Queue").values()
    assert queue["DeletionPolicy"] == "Delete"


def test_consumer_reports_partial_failures_bisects_retries_and_dead_letters(
    synth: Synthesized,
) -> None:
    (mapping,) = synth.of_type("AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    assert properties["FunctionName"] == {"Ref": synth.logical_id(synth.stack.consumer)}
    assert properties["EventSourceArn"] == {
        "Fn::GetAtt": [synth.logical_id(synth.stack.ingestion.stream), "Arn"]
    }
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["BisectBatchOnFunctionError"] is True
    assert properties["MaximumRetryAttempts"] == 5
    assert properties["MaximumRecordAgeInSeconds"] == 6 * 3600
    assert properties["StartingPosition"] == "TRIM_HORIZON"
    assert properties["ParallelizationFactor"] == 2
    assert properties["BatchSize"] == 100
    queue = synth.logical_id(synth.stack.ingestion.failures)
    assert properties["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}
    }
    failures = synth.resources[queue]["Properties"]
    assert failures["SqsManagedSseEnabled"] is True
    assert failures["MessageRetentionPeriod"] == 14 * 86400
    (queue_policy,) = synth.of_type("AWS::SQS::QueuePolicy").values()
    (deny,) = queue_policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_consumer_writes_only_event_files(synth: Synthesized) -> None:
    (put,) = [
        s for s in synth.statements(synth.stack.consumer.role) if "s3:PutObject" in s["Action"]
    ]
    assert put["Action"] == ["s3:PutObject"]
    assert put["Resource"] == {
        "Fn::Join": [
            "",
            [
                {"Fn::GetAtt": [synth.logical_id(synth.stack.storage.bucket), "Arn"]},
                "/resources/personalize/dataset-group/*/events/*",
            ],
        ]
    }


def test_functions_narrowed_to_some_keys_list_only_under_them(synth: Synthesized) -> None:
    stack = synth.stack
    events = "resources/personalize/dataset-group/*/events/*"
    items = "resources/personalize/dataset/*/ITEMS/data/*"
    expected = {
        "EventsConsumer": [[items]],  # it puts event files without listing them
        "EventsCompactor": [[events]],
        "RecommenderRetrainer": [[events]],
    }
    for name, role in _roles(stack).items():
        listings = [s for s in synth.statements(role) if "s3:ListBucket" in s["Action"]]
        prefixes = [s.get("Condition", {}).get("StringLike", {}).get("s3:prefix") for s in listings]
        if name in expected:
            assert prefixes == expected[name], name
        else:
            assert prefixes in ([], [None]), name  # the whole bucket's keys, or none


def test_only_the_events_function_publishes_events_and_it_can_do_nothing_else(
    synth: Synthesized,
) -> None:
    """PutEvents, the path applications call most, runs on a role that reads trackers,
    datasets and schemas and puts records on the stream: it cannot write the resources
    table, start a workflow or stop a job, as the control plane can."""
    stack = synth.stack
    publishers = [
        name
        for name, role in _roles(stack).items()
        if any(a.startswith("kinesis:Put") for a in synth.actions(role))
    ]
    assert publishers == ["Events"]
    assert synth.actions(stack.events_function.role) == (
        COMMON | {"dynamodb:GetItem", "dynamodb:Query", "kinesis:PutRecords"}
    )
    (statement,) = [
        s
        for s in synth.statements(stack.events_function.role)
        if "kinesis:PutRecords" in s["Action"]
    ]
    assert statement["Action"] == ["kinesis:PutRecords"]
    assert statement["Resource"] == {
        "Fn::GetAtt": [synth.logical_id(stack.ingestion.stream), "Arn"]
    }


# -- trainers -------------------------------------------------------------------------------


def test_training_images_are_staged_from_the_dockerfiles_with_a_minimal_context(
    synth: Synthesized,
) -> None:
    images = {image["displayName"]: image["source"] for image in _asset_manifest(synth).values()}
    assert set(images) == {
        "augury-forecasting",
        "augury-forecasting-gpu",
        "augury-personalization",
        "augury-personalization-gpu",
    }
    for name, source in images.items():
        container = name.removeprefix("augury-").removesuffix("-gpu")
        assert source["dockerFile"] == f"training_containers/{container}.Dockerfile"
        assert source["platform"] == "linux/amd64"
        # The GPU build installs torch's CUDA wheels; the others keep the Dockerfile's CPU default.
        build_args = {"TORCH_VARIANT": "cu126"} if name.endswith("-gpu") else None
        assert source.get("dockerBuildArgs") == build_args
        staged = synth.outdir / source["directory"]
        assert sorted(p.name for p in staged.iterdir()) == [
            "README.md",
            "lambdas",
            "pyproject.toml",
            "training_containers",
        ]
        assert not list(staged.rglob("__pycache__"))


def _asset_manifest(synth: Synthesized) -> dict[str, Any]:
    """The Docker image assets, by asset hash (also the image's tag)."""
    manifest = json.loads((synth.outdir / f"{synth.stack.stack_name}.assets.json").read_text())
    return manifest["dockerImages"]


def test_trainer_uri_names_the_role_the_images_and_the_instance_choices(
    synth: Synthesized,
) -> None:
    stack = synth.stack
    variables = synth.resources[synth.logical_id(stack.workflow_step)]["Properties"]
    parts = variables["Environment"]["Variables"]["AUGURY_TRAINER"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else json.dumps(p) for p in parts)
    assert text.startswith("sagemaker://?role_arn=")
    assert json.dumps({"Fn::GetAtt": [synth.logical_id(stack.trainers.role), "Arn"]}) in text
    values = dict(re.findall(r"&([\w.]+)=([^&]*)", text))
    tags = {image["displayName"]: tag for tag, image in _asset_manifest(synth).items()}
    for container in ("forecasting", "personalization"):
        assert tags[f"augury-{container}"] in values[f"image.{container}"]
        # GPU jobs run the CUDA build of the container (see SageMakerTrainer.image).
        assert tags[f"augury-{container}-gpu"] in values[f"gpu_image.{container}"]
    assert text.count("container-assets") == 4
    for choice in (
        "instance.forecasting=ml.m5.xlarge",
        "gpu_instance.forecasting=ml.g5.xlarge",
        "instance.personalization=ml.m5.xlarge",
        "gpu_instance.personalization=ml.g5.xlarge",
        "spot.forecasting=true",
        "spot.personalization=true",
    ):
        assert choice in text


def test_sagemaker_role_reads_channels_writes_models_and_nothing_else(synth: Synthesized) -> None:
    role = synth.stack.trainers.role
    assert _trust(synth, role) == [_trusted("sagemaker", "training-job/augury-*")]
    assert not synth.resources[synth.logical_id(role)]["Properties"].get("ManagedPolicyArns")
    by_action = {action: s for s in synth.statements(role) for action in s["Action"]}
    assert set(by_action) == {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
        "ecr:GetAuthorizationToken",
        "logs:CreateLogGroup",
        "logs:DescribeLogStreams",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "cloudwatch:PutMetricData",
    }
    assert by_action["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": ["resources/*"]}}
    assert json.dumps(by_action["s3:GetObject"]["Resource"]).endswith('"/resources/*"]]}')
    assert json.dumps(by_action["s3:PutObject"]["Resource"]).endswith(
        '"/resources/*/augury-*/output/*"]]}'
    )
    assert by_action["cloudwatch:PutMetricData"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}
    }
    for action in ("ecr:BatchGetImage", "logs:PutLogEvents"):
        assert by_action[action]["Resource"] != "*"


def test_only_the_workflow_step_starts_training_and_passes_only_the_training_role(
    synth: Synthesized,
) -> None:
    stack = synth.stack
    sagemaker = {
        name: sorted(a for a in synth.actions(role) if a.startswith("sagemaker:"))
        for name, role in _roles(stack).items()
    }
    assert sagemaker == {
        "WorkflowStep": [
            "sagemaker:CreateTrainingJob",
            "sagemaker:DescribeTrainingJob",
            "sagemaker:StopTrainingJob",
        ],
        "Api": ["sagemaker:StopTrainingJob"],  # StopResource
        "Events": [],
        "PersonalizeRuntime": [],
        "ForecastQuery": [],
        "EventsConsumer": [],
        "EventsCompactor": [],
        "RecommenderRetrainer": [],
    }
    for role in (stack.workflow_step.role, stack.api_function.role):
        for statement in synth.statements(role):
            if any(a.startswith("sagemaker:") for a in statement["Action"]):
                assert json.dumps(statement["Resource"]).endswith(':training-job/augury-*"]]}')
    (create,) = [
        s
        for s in synth.statements(stack.workflow_step.role)
        if "sagemaker:CreateTrainingJob" in s["Action"]
    ]
    assert create["Condition"] == {  # IAM holds jobs to what the deployment promises
        "Bool": {"sagemaker:NetworkIsolation": "true"},
        "ForAllValues:StringEquals": {"sagemaker:InstanceTypes": stack.trainers.instance_types},
    }
    assert "ml.g5.xlarge" in stack.trainers.instance_types
    (pass_role,) = [
        s for s in synth.statements(stack.workflow_step.role) if "iam:PassRole" in s["Action"]
    ]
    assert pass_role["Resource"] == {"Fn::GetAtt": [synth.logical_id(stack.trainers.role), "Arn"]}
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    for name, role in _roles(stack).items():
        if name != "WorkflowStep":
            assert "iam:PassRole" not in synth.actions(role)


# -- least privilege ------------------------------------------------------------------------


COMMON = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments"}
COMMON |= {"xray:PutTelemetryRecords"}
READ = {"dynamodb:GetItem", "dynamodb:Query", "s3:ListBucket", "s3:GetObject"}
WRITE = {"dynamodb:PutItem", "dynamodb:DeleteItem", "s3:PutObject", "s3:DeleteObject"}
WRITE |= {"s3:AbortMultipartUpload"}
KINESIS_READ = {f"kinesis:{a}" for a in ("DescribeStreamSummary", "GetRecords", "ListShards")}
KINESIS_READ |= {"kinesis:GetShardIterator", "kinesis:DescribeStream"}  # polling, no fan-out
TRAINING = {f"sagemaker:{a}TrainingJob" for a in ("Create", "Describe", "Stop")}


def test_each_function_may_call_exactly_what_its_adapters_call(synth: Synthesized) -> None:
    expected = {
        "Api": COMMON
        | READ
        | {"dynamodb:PutItem", "dynamodb:DeleteItem", "states:StartExecution"}
        | {"sagemaker:StopTrainingJob", "iam:SimulatePrincipalPolicy", "iam:GetRole"},
        "Events": COMMON | {"dynamodb:GetItem", "dynamodb:Query", "kinesis:PutRecords"},
        "PersonalizeRuntime": COMMON | READ,
        "ForecastQuery": COMMON | READ,
        "WorkflowStep": COMMON
        | READ
        | WRITE
        | TRAINING
        | {"iam:PassRole", "sts:AssumeRole", "cloudwatch:PutMetricData"},
        "EventsConsumer": COMMON
        | {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem"}
        | {"s3:PutObject", "s3:ListBucket", "s3:GetObject", "cloudwatch:PutMetricData"}
        | KINESIS_READ
        | {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
        "EventsCompactor": COMMON
        | {"dynamodb:GetItem", "dynamodb:Query", "s3:ListBucket", "s3:GetObject"}
        | {"s3:PutObject", "s3:DeleteObject"},  # whole-object puts: nothing to abort
        "RecommenderRetrainer": COMMON  # claims a recommender, lists new event files
        | {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"}
        | {"s3:ListBucket", "states:StartExecution"},
    }
    actual = {name: synth.actions(role) for name, role in _roles(synth.stack).items()}
    assert actual == expected


def test_metric_attributions_write_only_the_stacks_namespace(synth: Synthesized) -> None:
    stack = synth.stack
    namespace = "Augury/Personalize"
    assert stack.metrics_namespace == namespace
    for function in (stack.consumer, stack.workflow_step):
        (put,) = [
            s for s in synth.statements(function.role) if "cloudwatch:PutMetricData" in s["Action"]
        ]
        assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": namespace}}
    consumer = synth.resources[synth.logical_id(stack.consumer)]
    variables = consumer["Properties"]["Environment"]["Variables"]
    assert variables["AUGURY_METRICS"] == f"cloudwatch://{namespace}"
    # The consumer reads imported items (SUM(Items.PRICE)) and nothing else it did not write.
    (read,) = [s for s in synth.statements(stack.consumer.role) if "s3:GetObject" in s["Action"]]
    assert json.dumps(read["Resource"]).endswith(
        '/resources/personalize/dataset/*/ITEMS/data/*"]]}'
    )


def test_the_retrainer_starts_only_recommender_training_every_hour(synth: Synthesized) -> None:
    stack = synth.stack
    (start,) = [
        s for s in synth.statements(stack.retrainer.role) if "states:StartExecution" in s["Action"]
    ]
    machine = stack.workflows.state_machines["train-recommender"]
    assert start["Resource"] == {"Ref": synth.logical_id(machine)}
    rules = [
        rule["Properties"]
        for rule in synth.of_type("AWS::Events::Rule").values()
        if "Retrain" in rule["Properties"].get("Description", "")
    ]
    assert [rule["ScheduleExpression"] for rule in rules] == ["rate(1 hour)"]
    (target,) = rules[0]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [synth.logical_id(stack.retrainer), "Arn"]}


def test_serving_roles_cannot_write_anything(synth: Synthesized) -> None:
    for service, function in synth.stack.serving_functions.items():
        writes = {
            a
            for a in synth.actions(function.role)
            if WRITE_ACTIONS.search(a) and not a.startswith(("logs:", "xray:"))
        }
        assert writes == set(), service


def test_table_grants_name_their_table_and_indexes_never_a_wildcard(synth: Synthesized) -> None:
    storage = synth.stack.storage
    tables = {synth.logical_id(storage.table), synth.logical_id(storage.history_table)}
    for name, role in _roles(synth.stack).items():
        for statement in synth.statements(role):
            if not any(a.startswith("dynamodb:") for a in statement["Action"]):
                continue
            for resource in as_list(statement["Resource"]):
                text = json.dumps(resource)
                assert "*" not in text, (name, text)
                assert any(table in text for table in tables), (name, text)
    history = synth.logical_id(storage.history_table)
    history_writers = sorted(
        name
        for name, role in _roles(synth.stack).items()
        for s in synth.statements(role)
        if "dynamodb:PutItem" in s["Action"] and history in json.dumps(s["Resource"])
    )
    assert history_writers == ["EventsConsumer"]
    history_deleters = sorted(
        name
        for name, role in _roles(synth.stack).items()
        for s in synth.statements(role)
        if "dynamodb:DeleteItem" in s["Action"] and history in json.dumps(s["Resource"])
    )
    assert history_deleters == ["EventsConsumer", "WorkflowStep"]  # data deletion jobs


def test_no_wildcard_action_and_star_resources_only_where_aws_requires(
    synth: Synthesized,
) -> None:
    allowed_on_star = re.compile(
        r"^(xray:|ecr:GetAuthorizationToken$|cloudwatch:PutMetricData$|"
        r"logs:(Create|Get|Update|Delete|List)LogDeliver|logs:(PutResourcePolicy|"
        r"DescribeResourcePolicies|DescribeLogGroups)$)"
    )
    for policy in synth.of_type("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = as_list(statement["Action"])
            assert all("*" not in action for action in actions), actions
            if statement["Resource"] == "*" or "*" in as_list(statement["Resource"]):
                assert all(allowed_on_star.match(a) for a in actions), actions
                if "cloudwatch:PutMetricData" in actions:
                    assert "Condition" in statement


def test_data_access_roles_are_assumable_only_when_tagged(synth: Synthesized) -> None:
    assumers = [
        name
        for name, role in _roles(synth.stack).items()
        if "sts:AssumeRole" in synth.actions(role)
    ]
    assert assumers == ["WorkflowStep"]
    (statement,) = [
        s
        for s in synth.statements(synth.stack.workflow_step.role)
        if "sts:AssumeRole" in s["Action"]
    ]
    assert json.dumps(statement["Resource"]).endswith(':role/*"]]}')
    assert statement["Condition"] == {
        "StringEquals": {"aws:ResourceTag/augury:data-access": "augury-"}  # the stack's prefix
    }


def test_only_the_api_asks_iam_who_may_pass_roles_and_only_of_this_accounts_principals(
    synth: Synthesized,
) -> None:
    askers = [
        name
        for name, role in _roles(synth.stack).items()
        if synth.actions(role) & {"iam:SimulatePrincipalPolicy", "iam:GetRole"}
    ]
    assert askers == ["Api"]
    resources = {
        action: json.dumps(statement["Resource"])
        for statement in synth.statements(synth.stack.api_function.role)
        for action in statement["Action"]
        if action.startswith("iam:")
    }
    assert set(resources) == {"iam:SimulatePrincipalPolicy", "iam:GetRole"}
    assert ':user/*"' in resources["iam:SimulatePrincipalPolicy"]
    assert ':role/*"' in resources["iam:SimulatePrincipalPolicy"]
    assert ":user/" not in resources["iam:GetRole"] and ':role/*"' in resources["iam:GetRole"]


# -- workflows ------------------------------------------------------------------------------


def test_one_state_machine_per_workflow_compiled_from_its_definition(synth: Synthesized) -> None:
    machines = {
        machine["Properties"]["StateMachineName"]: machine["Properties"]
        for machine in synth.of_type("AWS::StepFunctions::StateMachine").values()
    }
    assert set(machines) == {state_machine_name("augury-", name) for name in WORKFLOWS}
    for name, workflow in WORKFLOWS.items():
        machine = machines[state_machine_name("augury-", name)]
        definition = json.dumps(machine["DefinitionString"])
        for step in workflow.steps:
            assert f'\\"step\\": \\"{step.name}\\"' in definition
        # the partition is the stack's, so one template deploys in aws, aws-cn and aws-us-gov
        assert "arn:aws:" not in definition
        assert '"arn:", {"Ref": "AWS::Partition"}, ":states:::lambda:invoke' in definition
        assert machine["TracingConfiguration"] == {"Enabled": True}
        assert machine["LoggingConfiguration"]["Level"] == "ALL"


def test_state_machines_log_to_one_vended_log_group_unique_to_the_stack(
    synth: Synthesized,
) -> None:
    group = synth.logical_id(synth.stack.workflows.log_group)
    name = synth.resources[group]["Properties"]["LogGroupName"]["Fn::Join"][1]
    assert name[0] == "/aws/vendedlogs/states/augury-workflows-"
    assert name[1] == {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
    for machine in synth.of_type("AWS::StepFunctions::StateMachine").values():
        (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
        assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
            "Fn::GetAtt": [group, "Arn"]
        }


LAMBDA_SERVICE_ERRORS = {
    # What Step Functions' best practices say to retry on every Lambda task.
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
}


def test_every_task_retries_lambda_service_errors_and_every_step_is_caught(
    synth: Synthesized,
) -> None:
    for machine in synth.of_type("AWS::StepFunctions::StateMachine").values():
        parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
        definition = json.loads("".join(p if isinstance(p, str) else "arn" for p in parts))
        for name, state in definition["States"].items():
            if state["Type"] != "Task":
                continue
            retried = {error for retry in state["Retry"] for error in retry["ErrorEquals"]}
            assert retried >= LAMBDA_SERVICE_ERRORS, name
            if name != "__failure__":
                assert state["Catch"] == [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "__failure__"}
                ], name


def test_state_machine_roles_trust_step_functions_for_this_accounts_machines_only(
    synth: Synthesized,
) -> None:
    for machine in synth.stack.workflows.state_machines.values():
        assert _trust(synth, machine.role) == [_trusted("states", "stateMachine:*")]


def _trust(synth: Synthesized, role: Any) -> list[dict[str, Any]]:
    document = synth.resources[synth.logical_id(role)]["Properties"]["AssumeRolePolicyDocument"]
    return document["Statement"]


def _trusted(service: str, resource: str) -> dict[str, Any]:
    """A trust statement for ``service`` acting only for this account's ``resource`` pattern."""
    return {
        "Action": "sts:AssumeRole",
        "Effect": "Allow",
        "Principal": {"Service": f"{service}.amazonaws.com"},
        "Condition": {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
            "ArnLike": {"aws:SourceArn": account_arn(service, resource)},
        },
    }


def test_state_machine_roles_may_only_invoke_the_workflow_step_function(
    synth: Synthesized,
) -> None:
    step = synth.logical_id(synth.stack.workflow_step)
    for machine in synth.stack.workflows.state_machines.values():
        for statement in synth.statements(machine.role):
            if any(action.startswith("lambda:") for action in statement["Action"]):
                assert statement["Action"] == ["lambda:InvokeFunction"]
                assert statement["Resource"] == {"Fn::GetAtt": [step, "Arn"]}
            else:  # log delivery and X-Ray only
                assert all(re.match(r"^(logs|xray):", a) for a in statement["Action"])


def test_only_the_api_function_may_start_workflows_and_only_augurys(synth: Synthesized) -> None:
    """The retrainer may start one: recommender training (its own test)."""
    machines = set(synth.of_type("AWS::StepFunctions::StateMachine"))
    starters = [
        name
        for name, role in _roles(synth.stack).items()
        if "states:StartExecution" in synth.actions(role)
    ]
    assert starters == ["Api", "RecommenderRetrainer"]
    for statement in synth.statements(synth.stack.api_function.role):
        if "states:StartExecution" in statement["Action"]:
            assert {ref["Ref"] for ref in statement["Resource"]} == machines


# -- outputs --------------------------------------------------------------------------------


def test_outputs_name_what_clients_and_operators_need(synth: Synthesized) -> None:
    outputs = synth.template.to_json()["Outputs"]
    assert {
        "ApiUrl",
        "ForecastEndpoint",
        "ForecastqueryEndpoint",
        "PersonalizeEndpoint",
        "PersonalizeRuntimeEndpoint",
        "PersonalizeEventsEndpoint",
        "TableName",
        "HistoryTableName",
        "BucketName",
        "EventStreamName",
        "ConsumerFailureQueueUrl",
        "TrainingRoleArn",
        "AlarmTopicArn",
    } <= set(outputs)
    assert json.dumps(outputs["ForecastEndpoint"]["Value"]).endswith('"/forecast"]]}')


def test_template_holds_no_secrets(synth: Synthesized) -> None:
    text = json.dumps(synth.template.to_json())
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)  # access key IDs
    assert not re.search(r"(?i)(secret|password|token)\"\s*:\s*\"[^\"]{8,}", text)
    assert "testing" not in text  # the test suite's dummy credentials


def _roles(stack: Any) -> dict[str, Any]:
    """Each function's role, by the function's construct ID."""
    functions = [
        stack.api_function,
        stack.events_function,
        stack.workflow_step,
        stack.consumer,
        stack.compactor,
        stack.retrainer,
        *stack.serving_functions.values(),
    ]
    return {function.node.id: function.role for function in functions}


def test_synth_wrote_the_template_where_the_cli_reads_it(synth: Synthesized) -> None:
    template = synth.outdir / f"{synth.stack.stack_name}.template.json"
    assert template.exists() and Path(synth.outdir / "manifest.json").exists()
