"""``IamRolePassing`` asks IAM's policy simulator, as Amazon's services check
``iam:PassRole``; ``named_roles`` finds every role a request hands over."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from augury.api.passed_roles import named_roles, takes_roles
from augury.api.service_models import operation_model
from augury.aws.iam_role_passing import IamRolePassing
from augury.ports import Caller
from augury.resources.errors import AccessDenied, Throttling

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/data/ForecastAccess"
USER = f"arn:aws:iam::{ACCOUNT}:user/ana"
ANA = Caller(arn=USER, source_ip="203.0.113.7")


def iam() -> tuple[Any, Stubber]:
    client = boto3.client(
        "iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def passing(client: Any) -> IamRolePassing:
    return IamRolePassing("us-east-1", account=ACCOUNT, client=client)


def simulation(
    principal: str,
    decision: str,
    service: str = "forecast",
    *,
    source_ip: str | None = "203.0.113.7",
    missing: list[str] | None = None,
) -> tuple[dict, dict]:
    result: dict[str, Any] = {
        "EvalActionName": "iam:PassRole",
        "EvalResourceName": ROLE,
        "EvalDecision": decision,
    }
    if missing:
        result["MissingContextValues"] = missing
    context = [
        ("iam:PassedToService", f"{service}.amazonaws.com", "string"),
        ("aws:PrincipalArn", principal, "string"),
        ("aws:PrincipalAccount", ACCOUNT, "string"),
        ("aws:SecureTransport", "true", "boolean"),
        ("aws:RequestedRegion", "us-east-1", "string"),
    ]
    if source_ip:
        context.append(("aws:SourceIp", source_ip, "ip"))
    expected = {
        "PolicySourceArn": principal,
        "ActionNames": ["iam:PassRole"],
        "ResourceArns": [ROLE],
        "ContextEntries": [
            {"ContextKeyName": name, "ContextKeyValues": [value], "ContextKeyType": kind}
            for name, value, kind in context
        ],
    }
    return {"EvaluationResults": [result], "IsTruncated": False}, expected


def test_a_user_allowed_to_pass_the_role_passes_and_the_answer_is_kept() -> None:
    client, stub = iam()
    stub.add_response("simulate_principal_policy", *simulation(USER, "allowed"))
    checks = passing(client)
    with stub:
        checks.check(ANA, ROLE, "forecast")
        checks.check(ANA, ROLE, "forecast")  # cached: the stub holds one answer only
    stub.assert_no_pending_responses()


def test_a_user_denied_is_refused_in_iams_words() -> None:
    client, stub = iam()
    stub.add_response("simulate_principal_policy", *simulation(USER, "implicitDeny", "personalize"))
    with stub, pytest.raises(AccessDenied) as refused:
        passing(client).check(ANA, ROLE, "personalize")
    assert f"User: {USER} is not authorized to perform: iam:PassRole on resource: {ROLE}" in str(
        refused.value
    )
    assert refused.value.code == "AccessDeniedException"


def test_an_answer_resting_on_context_the_simulation_lacks_is_a_refusal() -> None:
    client, stub = iam()
    stub.add_response(
        "simulate_principal_policy",
        *simulation(USER, "allowed", missing=["aws:MultiFactorAuthPresent"]),
    )
    with stub, pytest.raises(AccessDenied, match="depend on aws:MultiFactorAuthPresent"):
        passing(client).check(ANA, ROLE, "forecast")


def test_a_role_session_is_judged_by_its_role_path_included() -> None:
    client, stub = iam()
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/teams/analyst"
    stub.add_response(
        "get_role",
        {
            "Role": {
                "Path": "/teams/",
                "RoleName": "analyst",
                "RoleId": "AROAEXAMPLEEXAMPLE1",
                "Arn": role_arn,
                "CreateDate": "2026-01-01T00:00:00Z",
                "AssumeRolePolicyDocument": "{}",
            }
        },
        {"RoleName": "analyst"},
    )
    stub.add_response("simulate_principal_policy", *simulation(role_arn, "allowed", source_ip=None))
    session = Caller(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/analyst/ana@example.com")
    with stub:
        passing(client).check(session, ROLE, "forecast")
    stub.assert_no_pending_responses()


def test_iams_errors_are_not_kept_and_its_throttling_is_retryable() -> None:
    client, stub = iam()
    stub.add_client_error("simulate_principal_policy", service_error_code="Throttling")
    stub.add_client_error("simulate_principal_policy", service_error_code="AccessDenied")
    stub.add_response("simulate_principal_policy", *simulation(USER, "allowed"))
    checks = passing(client)
    with stub:
        with pytest.raises(Throttling) as throttled:
            checks.check(ANA, ROLE, "forecast")
        assert throttled.value.code == "ThrottlingException"  # botocore retries this code
        with pytest.raises(AccessDenied, match=r"could not evaluate .* AccessDenied"):
            checks.check(ANA, ROLE, "forecast")
        checks.check(ANA, ROLE, "forecast")  # asked again each time: nothing was kept
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("caller", "why"),
    [
        (None, "no caller identity"),
        (Caller(f"arn:aws:sts::{ACCOUNT}:federated-user/bob"), "neither an IAM user nor a role"),
        (Caller("not-an-arn"), "not an IAM or STS ARN"),
        (Caller("arn:aws:iam::210987654321:root"), "not of this deployment's account"),
        (Caller("arn:aws:sts::210987654321:assumed-role/Admin/x"), "not of this deployment's"),
    ],
)
def test_callers_it_cannot_judge_may_not_name_roles(caller: Caller | None, why: str) -> None:
    client, stub = iam()
    with stub, pytest.raises(AccessDenied, match=why):
        passing(client).check(caller, ROLE, "forecast")


def test_the_root_user_passes_without_asking() -> None:
    client, stub = iam()
    with stub:
        passing(client).check(Caller(f"arn:aws:iam::{ACCOUNT}:root"), ROLE, "forecast")


def test_every_role_member_of_a_request_is_found_once_each() -> None:
    forecast = {
        "DataSource": {"S3Config": {"Path": "s3://b/", "RoleArn": ROLE}},
        "EncryptionConfig": {"RoleArn": "arn:aws:iam::1:role/kms", "KMSKeyArn": "k"},
        "Tags": [{"Key": "RoleArn", "Value": "not a member named so"}],
    }
    assert list(named_roles(forecast)) == [ROLE, "arn:aws:iam::1:role/kms"]
    personalize = {"metricsOutputConfig": {"roleArn": ROLE}, "roleArn": ""}
    assert list(named_roles(personalize)) == [ROLE]


def test_only_operations_that_can_name_a_role_are_looked_through() -> None:
    assert takes_roles(operation_model("forecast", "CreateDatasetImportJob"))
    assert takes_roles(operation_model("personalize", "CreateMetricAttribution"))
    assert takes_roles(operation_model("personalize", "CreateDatasetGroup"))
    assert not takes_roles(operation_model("personalize-runtime", "GetRecommendations"))
    assert not takes_roles(operation_model("personalize-events", "PutEvents"))
    assert not takes_roles(operation_model("forecastquery", "QueryForecast"))
