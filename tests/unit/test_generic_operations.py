"""Generic resource operations that every type shares."""

from __future__ import annotations

import pytest

from augury.bootstrap import bootstrap
from augury.personalize.resource_types import DATASET_GROUP
from augury.resources import crud
from augury.resources.errors import InvalidInput
from augury.resources.status import Status
from augury.settings import Settings


def test_forecast_filters_select_with_is_and_is_not():
    keep = crud.forecast_filters(
        [
            {"Key": "Status", "Value": "ACTIVE", "Condition": "IS"},
            {"Key": "DatasetArn", "Value": "arn:a", "Condition": "IS_NOT"},
        ],
        allowed=("Status", "DatasetArn"),
    )
    assert keep({"Status": "ACTIVE", "DatasetArn": "arn:b"})
    assert not keep({"Status": "ACTIVE", "DatasetArn": "arn:a"})
    assert not keep({"Status": "CREATE_FAILED", "DatasetArn": "arn:b"})
    assert crud.forecast_filters(None, allowed=("Status",)) is None


def test_forecast_filters_refuse_unknown_keys_and_conditions():
    with pytest.raises(InvalidInput, match="valid keys are Status"):
        crud.forecast_filters([{"Key": "Name", "Value": "x", "Condition": "IS"}], ("Status",))
    with pytest.raises(InvalidInput, match="IS or IS_NOT"):
        crud.forecast_filters([{"Key": "Status", "Value": "x", "Condition": "LIKE"}], ("Status",))


def test_a_workflow_that_cannot_start_fails_its_resource(tmp_path):
    runtime = bootstrap(Settings.embedded(tmp_path))
    runtime.workflows.shutdown()  # the pool refuses new work, as a failing engine would
    arn = runtime.arns.build("personalize", "dataset-group", "g")
    crud.create(runtime, DATASET_GROUP, arn, "g", status=Status.CREATE_PENDING)
    with pytest.raises(RuntimeError):
        crud.start_workflow(runtime, "activate-resource", arn)
    record = runtime.metadata.get(arn)
    assert record.status == "CREATE_FAILED"
    assert "Could not start the activate-resource workflow" in record.attributes["failureReason"]
    assert runtime.metadata.list(kind="augury:workflow-execution").items == []
