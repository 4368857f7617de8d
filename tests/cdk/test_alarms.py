"""The stack's alarms: each watches what an operator must hear about, on one synthesis.

Every alarm notifies the encrypted topic both ways and says what to look at;
state machines, functions, the events consumer and the API each alarm on what
fails them (``augury_cdk.alarms``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from augury.workflows.asl import state_machine_name
from augury.workflows.catalog import WORKFLOWS
from augury_cdk.alarms import ITERATOR_AGE
from tests.cdk.conftest import Synthesized, account_arn, synthesize

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize({}, tmp_path_factory.mktemp("cdk.out"))


# -- alarms ---------------------------------------------------------------------------------


def _alarms(synth: Synthesized) -> dict[str, dict[str, Any]]:
    """Each alarm's properties, by alarm name."""
    return {
        alarm["Properties"]["AlarmName"]: alarm["Properties"]
        for alarm in synth.of_type("AWS::CloudWatch::Alarm").values()
    }


def _watching(synth: Synthesized, name: str, value: object) -> dict[str, str]:
    """The metrics alarmed on for the resource whose ``name`` dimension is ``value``."""
    return {
        alarm["MetricName"]: alarm["AlarmName"]
        for alarm in _alarms(synth).values()
        if {"Name": name, "Value": value} in alarm.get("Dimensions", [])
    }


def test_every_alarm_notifies_the_topic_both_ways_and_says_what_to_look_at(
    synth: Synthesized,
) -> None:
    alarms = _alarms(synth)
    functions = 8  # six behind the API and the stream, the events compactor, the retrainer
    assert len(alarms) == 2 * len(WORKFLOWS) + 2 * functions - 1 + 2 + 1
    topic = {"Ref": synth.logical_id(synth.stack.alarms.topic)}
    for name, alarm in alarms.items():
        assert name.startswith("augury-"), name
        assert alarm["AlarmActions"] == alarm["OKActions"] == [topic], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
        assert (alarm["Period"], alarm["EvaluationPeriods"]) == (300, 1), name
        parts = alarm["AlarmDescription"]["Fn::Join"][1]
        text = "".join(p for p in parts if isinstance(p, str))
        assert len(text) + 100 * (len(parts) - 1) <= 1024, name  # CloudWatch's limit
        assert "log group" in text or "access logs" in text, name
        assert any("Logs" in json.dumps(p) for p in parts if not isinstance(p, str)), name


def test_every_state_machine_alarms_on_failed_and_timed_out_executions(
    synth: Synthesized,
) -> None:
    for name, machine in synth.stack.workflows.state_machines.items():
        watched = _watching(synth, "StateMachineArn", {"Ref": synth.logical_id(machine)})
        assert watched == {
            "ExecutionsFailed": f"augury-workflow-{name}-failed",
            "ExecutionsTimedOut": f"augury-workflow-{name}-timed-out",
        }
        alarm = _alarms(synth)[f"augury-workflow-{name}-failed"]
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1)
        assert state_machine_name("augury-", name) in json.dumps(alarm["AlarmDescription"])


def test_functions_alarm_on_throttles_and_on_errors_except_the_polling_workflow_step(
    synth: Synthesized,
) -> None:
    stack = synth.stack
    for function in [stack.api_function, *stack.serving_functions.values(), stack.consumer]:
        watched = _watching(synth, "FunctionName", {"Ref": synth.logical_id(function)})
        assert {"Errors", "Throttles"} <= set(watched), function.node.id
    # Every ResourcePending poll is a Lambda error by design; failed executions alarm instead.
    step = _watching(synth, "FunctionName", {"Ref": synth.logical_id(stack.workflow_step)})
    assert step == {"Throttles": "augury-workflow-step-throttles"}
    alarms = _alarms(synth)
    assert alarms["augury-personalize-runtime-errors"]["Threshold"] == 1
    assert alarms["augury-forecast-query-throttles"]["Statistic"] == "Sum"


def test_the_consumer_alarms_when_events_wait_and_when_batches_are_given_up(
    synth: Synthesized,
) -> None:
    stack = synth.stack
    consumer = _watching(synth, "FunctionName", {"Ref": synth.logical_id(stack.consumer)})
    age = _alarms(synth)[consumer["IteratorAge"]]
    assert (age["Statistic"], age["Threshold"]) == ("Maximum", 15 * 60 * 1000)
    queue = {"Fn::GetAtt": [synth.logical_id(stack.ingestion.failures), "QueueName"]}
    failures = _alarms(synth)[
        _watching(synth, "QueueName", queue)["ApproximateNumberOfMessagesVisible"]
    ]
    assert failures["AlarmName"] == "augury-events-consumer-failures"
    assert (failures["Namespace"], failures["Statistic"]) == ("AWS/SQS", "Maximum")
    assert failures["Threshold"] == 1


def test_the_api_alarms_on_server_errors_of_its_own_stage(synth: Synthesized) -> None:
    api = synth.stack.api.rest_api
    alarm = _alarms(synth)["augury-api-5xx"]
    assert alarm["MetricName"] == "5XXError" and alarm["Statistic"] == "Sum"
    assert alarm["Dimensions"] == [
        {"Name": "ApiName", "Value": "augury-api"},
        {"Name": "Stage", "Value": {"Ref": synth.logical_id(api.deployment_stage)}},
    ]
    assert alarm["Threshold"] == 5


def test_alarm_topic_is_encrypted_ssl_only_and_only_this_accounts_alarms_publish(
    synth: Synthesized,
) -> None:
    alarms = synth.stack.alarms
    (topic,) = synth.of_type("AWS::SNS::Topic").values()
    key = synth.logical_id(alarms.key)
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    assert topic["Properties"]["TopicName"] == "augury-alarms"
    assert not synth.of_type("AWS::SNS::Subscription")  # no alarmEmail: no subscriber
    publish_by_alarms = {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": account_arn("cloudwatch", "alarm:augury-*")},
    }
    (policy,) = synth.of_type("AWS::SNS::TopicPolicy").values()
    deny, allow = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == (
        "Deny",
        {"Bool": {"aws:SecureTransport": "false"}},
    )
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert (allow["Action"], allow["Condition"]) == ("sns:Publish", publish_by_alarms)
    properties = synth.resources[key]["Properties"]
    assert properties["EnableKeyRotation"] is True
    (cloudwatch,) = [
        s
        for s in properties["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == publish_by_alarms


def test_events_may_wait_far_less_than_the_age_at_which_they_are_given_up() -> None:
    from augury_cdk.ingestion import MAX_RECORD_AGE

    assert ITERATOR_AGE.to_minutes() * 4 <= MAX_RECORD_AGE.to_minutes()
