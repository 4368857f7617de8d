"""The predictor record both create calls write, and what both Describe calls read.

CreateAutoPredictor and CreatePredictor differ in what they accept, not in what
happens next: each stores one predictor record (the API's own members, plus a
private ``PredictorSpec``) under its dataset group and starts the
``train-predictor`` workflow. Attributes whose names start with ``_`` are the
control plane's own and never reach the wire (the output shapes trim them).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from augury.forecast.accuracy import SUMMARY_ATTRIBUTE, ensemble_message
from augury.forecast.job_config import SPEC_ATTRIBUTE, PredictorSpec
from augury.forecast.resource_types import PREDICTOR
from augury.resources import crud
from augury.resources.errors import InvalidInput, ResourceInUse
from augury.resources.record import Resource
from augury.resources.status import Status
from augury_training.forecast_contract import (
    DEEP_MIN_OBSERVATIONS,
    DEEP_SECONDS_PER_POINT,
    HPO_TRIALS,
)

if TYPE_CHECKING:
    from augury.runtime import Runtime

TRAIN_WORKFLOW = "train-predictor"
JOB_ID = "_job_id"
STARTED_AT = "_started_at"
ESTIMATED_SECONDS = "_estimated_seconds"
REFERENCE = "_reference_arn"

SECONDS_PER_POINT_AND_MODEL = 0.0005
"""A rough training cost per data point, candidate model and backtest pass.

It only feeds EstimatedTimeRemainingInMinutes, which Amazon also presents as an
estimate; it errs on the long side for small data."""
MINIMUM_ESTIMATE_SECONDS = 60


def create_predictor(
    runtime: Runtime,
    request: Mapping[str, Any],
    *,
    group_arn: str,
    spec: PredictorSpec,
    attributes: Mapping[str, Any],
) -> str:
    """Store the predictor (CREATE_PENDING) and start training it; return its ARN."""
    name = request["PredictorName"]
    arn = runtime.arns.build("forecast", "predictor", name)
    crud.create(
        runtime,
        PREDICTOR,
        arn,
        name,
        status=Status.CREATE_PENDING,
        parent_arn=group_arn,
        attributes={
            **attributes,
            SPEC_ATTRIBUTE: spec.to_dict(),
            JOB_ID: uuid.uuid4().hex[:24],
        },
        tags=request.get("Tags"),
    )
    crud.start_workflow(runtime, TRAIN_WORKFLOW, arn)
    return arn


def estimate_seconds(rows: int, spec: PredictorSpec) -> float:
    """A rough duration for training ``spec`` on ``rows`` data points.

    Each candidate fits once per backtest window and once on all the data. A deep
    model costs :data:`DEEP_SECONDS_PER_POINT` a fit, and with PerformHPO also its
    trials; an AutoPredictor's deep candidates count only from
    :data:`DEEP_MIN_OBSERVATIONS` rows (``rows`` bounds the observations from above,
    as for the accelerator), where it considers them.
    """
    passes = spec.backtest_windows + 1
    deep_considered = not spec.auto or rows >= DEEP_MIN_OBSERVATIONS
    trials = HPO_TRIALS if spec.perform_hpo else 0
    cost = 0.0
    for name in spec.algorithms:
        if name not in DEEP_SECONDS_PER_POINT:
            cost += rows * passes * SECONDS_PER_POINT_AND_MODEL
        elif deep_considered:
            cost += rows * (passes + trials) * DEEP_SECONDS_PER_POINT[name]
    return max(MINIMUM_ESTIMATE_SECONDS, cost)


def minutes_remaining(record: Resource, now: float | None = None) -> int | None:
    """EstimatedTimeRemainingInMinutes while the resource is being created, else ``None``."""
    if not Status(record.status).working:
        return None
    estimate = record.attributes.get(ESTIMATED_SECONDS)
    if estimate is None:
        return None
    started = record.attributes.get(STARTED_AT)
    elapsed = 0.0 if started is None else (now or time.time()) - float(started)
    return max(1, math.ceil((float(estimate) - elapsed) / 60))


def reference_summary(runtime: Runtime, record: Resource) -> dict[str, str] | None:
    """ReferencePredictorSummary: the predictor this one retrains, and whether it still exists."""
    reference = record.attributes.get(REFERENCE)
    if not reference:
        return None
    state = "Active" if runtime.metadata.get(reference) is not None else "Deleted"
    return {"Arn": reference, "State": state}


def describe(runtime: Runtime, arn: str, *, auto: bool) -> dict[str, Any]:
    """DescribeAutoPredictor (``auto``) or DescribePredictor, each for its own kind."""
    record = crud.get_record(runtime, PREDICTOR, arn)
    is_auto = bool(record.attributes.get("IsAutoPredictor"))
    if auto and not is_auto:
        raise InvalidInput(
            f"Predictor {arn} is a legacy predictor created with CreatePredictor; "
            "describe it with DescribePredictor"
        )
    if not auto and is_auto:
        raise InvalidInput(
            f"Predictor {arn} was created with CreateAutoPredictor. DescribePredictor is only "
            "valid for legacy predictors created with CreatePredictor; use DescribeAutoPredictor"
        )
    body = crud.render(PREDICTOR, record)
    body.pop("DatasetGroupArn", None)  # shown inside DataConfig / InputDataConfig instead
    remaining = minutes_remaining(record)
    if remaining is not None:
        body["EstimatedTimeRemainingInMinutes"] = remaining
    summary = reference_summary(runtime, record)
    if summary is not None:
        body["ReferencePredictorSummary"] = summary
    one_algorithm = not auto and bool(body.get("AlgorithmArn")) and not body.get("PerformAutoML")
    if not body.get("Message") and not one_algorithm:  # one algorithm: no ensemble to report
        message = ensemble_message(record.attributes.get(SUMMARY_ATTRIBUTE) or {})
        if message:
            body["Message"] = message
    return body


def list_predictors(runtime: Runtime, request: Mapping[str, Any]) -> dict[str, Any]:
    """ListPredictors, filtered by DatasetGroupArn or Status as Amazon allows."""
    keep = crud.forecast_filters(request.get("Filters"), ("DatasetGroupArn", "Status"))
    page = crud.list_page(runtime, PREDICTOR, request, keep=keep)
    for item in page[PREDICTOR.list_member]:
        reference = item.get(REFERENCE)
        if reference:
            state = "Active" if runtime.metadata.get(reference) is not None else "Deleted"
            item["ReferencePredictorSummary"] = {"Arn": reference, "State": state}
    return page


def usable_predictor(runtime: Runtime, arn: str, purpose: str) -> Resource:
    """An ACTIVE predictor, or the error Amazon gives for one that is not."""
    record = crud.get_record(runtime, PREDICTOR, arn)
    status = Status(record.status)
    if status.working:
        raise ResourceInUse(f"Predictor {arn} is {status.value}; {purpose} once it is ACTIVE")
    if status != Status.ACTIVE:
        raise InvalidInput(
            f"Predictor {arn} is {status.value}, not ACTIVE; {purpose} only when it is ACTIVE"
        )
    return record


def refuse_members(request: Mapping[str, Any], members: Sequence[str], why: str) -> None:
    """``InvalidInput`` naming the first of ``members`` present in ``request``."""
    for member in members:
        if request.get(member) not in (None, False, [], {}):
            raise InvalidInput(f"{member} cannot be specified {why}")
