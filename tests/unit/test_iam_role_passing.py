"""``IamRolePassing`` asks IAM's policy simulator, as Amazon's services check
``iam:PassRole``; ``named_roles`` finds every role a request hands over."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from augury.api.passed_roles import named_roles
from augury.aws.iam_role_passing import IamRolePassing
from augury.resources.errors import AccessDenied

ROLE = "arn:aws:iam::123456789012:role/data/ForecastAccess"
USER = "arn:aws:iam::123456789012:user/ana"


def iam() -> tuple[Any, Stubber]:
    client = boto3.client(
        "iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def simulation(principal: str, decision: str, service: str = "forecast") -> tuple[dict, dict]:
    response = {
        "EvaluationResults": [
            {"EvalActionName": "iam:PassRole", "EvalResourceName": ROLE, "EvalDecision": decision}
        ],
        "IsTruncated": False,
    }
    expected = {
        "PolicySourceArn": principal,
        "ActionNames": ["iam:PassRole"],
        "ResourceArns": [ROLE],
        "ContextEntries": [
            {
                "ContextKeyName": "iam:PassedToService",
                "ContextKeyValues": [f"{service}.amazonaws.com"],
                "ContextKeyType": "string",
            }
        ],
    }
    return response, expected


def test_a_user_allowed_to_pass_the_role_passes_and_the_answer_is_kept() -> None:
    client, stub = iam()
    stub.add_response("simulate_principal_policy", *simulation(USER, "allowed"))
    passing = IamRolePassing(client=client)
    with stub:
        passing.check(USER, ROLE, "forecast")
        passing.check(USER, ROLE, "forecast")  # cached: the stub holds one answer only
    stub.assert_no_pending_responses()


def test_a_user_denied_is_refused_in_iams_words() -> None:
    client, stub = iam()
    stub.add_response("simulate_principal_policy", *simulation(USER, "implicitDeny", "personalize"))
    with stub, pytest.raises(AccessDenied) as refused:
        IamRolePassing(client=client).check(USER, ROLE, "personalize")
    assert f"User: {USER} is not authorized to perform: iam:PassRole on resource: {ROLE}" in str(
        refused.value
    )
    assert refused.value.code == "AccessDeniedException"


def test_a_role_session_is_judged_by_its_role_path_included() -> None:
    client, stub = iam()
    role_arn = "arn:aws:iam::123456789012:role/teams/analyst"
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
    stub.add_response("simulate_principal_policy", *simulation(role_arn, "allowed"))
    with stub:
        IamRolePassing(client=client).check(
            "arn:aws:sts::123456789012:assumed-role/analyst/ana@example.com", ROLE, "forecast"
        )
    stub.assert_no_pending_responses()


def test_a_simulator_error_refuses_with_the_reason() -> None:
    client, stub = iam()
    stub.add_client_error("simulate_principal_policy", service_error_code="AccessDenied")
    with stub, pytest.raises(AccessDenied, match=r"could not evaluate .* AccessDenied"):
        IamRolePassing(client=client).check(USER, ROLE, "forecast")


@pytest.mark.parametrize(
    ("caller", "why"),
    [
        (None, "no caller identity"),
        ("arn:aws:sts::123456789012:federated-user/bob", "neither an IAM user nor a role"),
        ("not-an-arn", "not an IAM or STS ARN"),
    ],
)
def test_callers_it_cannot_judge_may_not_name_roles(caller: str | None, why: str) -> None:
    client, stub = iam()
    with stub, pytest.raises(AccessDenied, match=why):
        IamRolePassing(client=client).check(caller, ROLE, "forecast")


def test_the_root_user_passes_without_asking() -> None:
    client, stub = iam()
    with stub:
        IamRolePassing(client=client).check("arn:aws:iam::123456789012:root", ROLE, "forecast")


def test_every_role_member_of_a_request_is_found_once_each() -> None:
    forecast = {
        "DataSource": {"S3Config": {"Path": "s3://b/", "RoleArn": ROLE}},
        "EncryptionConfig": {"RoleArn": "arn:aws:iam::1:role/kms", "KMSKeyArn": "k"},
        "Tags": [{"Key": "RoleArn", "Value": "not a member named so"}],
    }
    assert list(named_roles(forecast)) == [ROLE, "arn:aws:iam::1:role/kms"]
    personalize = {"metricsOutputConfig": {"roleArn": ROLE}, "roleArn": ""}
    assert list(named_roles(personalize)) == [ROLE]
