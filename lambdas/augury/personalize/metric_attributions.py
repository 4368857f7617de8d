"""Personalize metric attributions: Create, Describe, List, Update, Delete, and their metrics.

A metric attribution says which events of a dataset group to report on and
how (``attribution_metrics``), and where bulk reports go
(``metricsOutputConfig``). A group has at most one (Amazon's limit), held by a
slot record (``augury.resources.group_slots``) so two concurrent creates cannot
both succeed. What it reports, and when, is ``attribution_reports``.

Checked when created or updated, as Amazon's guide lists the requirements:
the group's Interactions dataset exists and has an ``EVENT_TYPE`` field; at
most ten metrics with distinct names; each expression ``SAMPLECOUNT()`` or
``SUM()`` of a numeric Interactions or Items field; an IAM role ARN; an
``s3://`` report path that storage can reach.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.attribution_metrics import (
    MAX_METRICS,
    MetricError,
    MetricSpec,
    check_column,
    parse_metric,
)
from augury.personalize.avro_rules import ParsedSchema, parse_schema_text
from augury.personalize.dataset_groups import ACTIVATE_WORKFLOW
from augury.personalize.event_data import dataset_arn
from augury.personalize.resource_types import DATASET, DATASET_GROUP, METRIC_ATTRIBUTION
from augury.ports import ExternalDataError
from augury.resources import crud
from augury.resources.errors import (
    InvalidInput,
    ResourceAlreadyExists,
    ResourceInUse,
)
from augury.resources.group_slots import create_one_per_group, slot_holder
from augury.resources.iam_arns import ROLE_ARN_FORM, is_kms_key_arn, is_role_arn
from augury.resources.record import Resource
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")

SLOT_KIND = "metric-attribution-slot"
METRICS = "metrics"
"""Attribute: the ``MetricAttribute`` list, as ListMetricAttributionMetrics returns it."""
OUTPUT = "metricsOutputConfig"


@operations("CreateMetricAttribution")
def create_metric_attribution(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """CREATE PENDING now; ACTIVE once the activation workflow has run."""
    group = crud.get_record(runtime, DATASET_GROUP, request["datasetGroupArn"])
    metrics = list(request["metrics"])
    _check_metrics(runtime, group.arn, metrics)
    output = _checked_output(runtime, request["metricsOutputConfig"])
    arn = create_one_per_group(
        runtime,
        METRIC_ATTRIBUTION,
        group,
        request["name"],
        slot_kind=SLOT_KIND,
        label="a metric attribution",
        attributes={METRICS: [_stored(m) for m in metrics], OUTPUT: output},
    ).arn
    crud.start_workflow(runtime, ACTIVATE_WORKFLOW, arn)
    return {"metricAttributionArn": arn}


@operations("DescribeMetricAttribution")
def describe_metric_attribution(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, METRIC_ATTRIBUTION, request["metricAttributionArn"])


@operations("ListMetricAttributions")
def list_metric_attributions(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The group's metric attribution; with no group, every one in the account."""
    return crud.list_page(
        runtime, METRIC_ATTRIBUTION, request, parent_arn=request.get("datasetGroupArn")
    )


@operations("ListMetricAttributionMetrics")
def list_metric_attribution_metrics(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The attribution's metrics, in the order they were added, a page at a time."""
    arn = request.get("metricAttributionArn")
    if not arn:
        raise InvalidInput("metricAttributionArn is required")
    record = crud.get_record(runtime, METRIC_ATTRIBUTION, arn)
    return crud.slice_page(record.attributes.get(METRICS) or [], request, "metrics", arn)


@operations("UpdateMetricAttribution")
def update_metric_attribution(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Add and remove metrics, or change the output; applied at once, while ACTIVE."""
    arn = request.get("metricAttributionArn")
    if not arn:
        raise InvalidInput("metricAttributionArn is required")
    record = crud.get_record(runtime, METRIC_ATTRIBUTION, arn)
    added = list(request.get("addMetrics") or [])
    removed = list(request.get("removeMetrics") or [])
    output = request.get("metricsOutputConfig")
    if not (added or removed or output):
        raise InvalidInput("Give addMetrics, removeMetrics or metricsOutputConfig to change")
    checked_output = _checked_output(runtime, output) if output else None
    if added:
        _check_metrics(runtime, str(record.parent_arn), added)

    def change(current: Resource) -> Resource:
        status = Status(current.status)
        if status != Status.ACTIVE:
            raise ResourceInUse(
                f"Metric attribution {arn} is {status.render('personalize')}; "
                "it can be updated once it is ACTIVE"
            )
        metrics = _updated_metrics(arn, current.attributes.get(METRICS) or [], added, removed)
        attributes = {**current.attributes, METRICS: metrics}
        if checked_output is not None:
            attributes[OUTPUT] = checked_output
        return current.evolve(attributes=attributes)

    crud.update(runtime, arn, change)
    return {"metricAttributionArn": arn}


@operations("DeleteMetricAttribution")
def delete_metric_attribution(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """DELETE PENDING, then gone with its slot; what it already reported stays."""
    crud.request_delete(
        runtime, METRIC_ATTRIBUTION, request["metricAttributionArn"], blocking_children=False
    )
    return {}


def active_attribution(runtime: Runtime, group_arn: str) -> Resource | None:
    """The group's ACTIVE metric attribution, if it has one: two keyed reads."""
    holder = slot_holder(runtime, SLOT_KIND, group_arn)
    record = runtime.metadata.get(holder) if holder else None
    if record is None or record.kind != METRIC_ATTRIBUTION.kind:
        return None
    return record if Status(record.status) == Status.ACTIVE else None


def specs_of(record: Resource) -> list[MetricSpec]:
    """The attribution's metrics, parsed (they were checked when stored)."""
    return [parse_metric(metric) for metric in record.attributes.get(METRICS) or []]


# --- checks ------------------------------------------------------------------------------


def _stored(metric: Mapping[str, Any]) -> dict[str, str]:
    return {
        "eventType": str(metric["eventType"]),
        "metricName": str(metric["metricName"]),
        "expression": str(metric["expression"]),
    }


def _check_metrics(runtime: Runtime, group_arn: str, metrics: Sequence[Mapping[str, Any]]) -> None:
    """Every metric parses and names a numeric column the group's datasets have."""
    if not metrics:
        raise InvalidInput("metrics must list at least one metric to report")
    schemas = _schemas(runtime, group_arn)
    interactions = schemas.get("INTERACTIONS")
    if interactions is None:
        raise InvalidInput(
            f"Dataset group {group_arn} has no Interactions dataset; a metric attribution "
            "reports on interactions, so create that dataset first"
        )
    if interactions.get("EVENT_TYPE") is None:
        raise InvalidInput(
            f"The Interactions dataset of {group_arn} has no EVENT_TYPE field; a metric "
            "attribution reports per event type, so its schema needs one"
        )
    names: set[str] = set()
    for metric in metrics:
        name = str(metric["metricName"])
        if name in names:
            raise InvalidInput(f"Metric name {name} is given twice; metric names must differ")
        names.add(name)
        try:
            check_column(parse_metric(metric), schemas)
        except MetricError as error:
            raise InvalidInput(str(error)) from None


def _schemas(runtime: Runtime, group_arn: str) -> dict[str, ParsedSchema]:
    found = {}
    for dataset_type in ("INTERACTIONS", "ITEMS"):
        dataset = runtime.metadata.get(dataset_arn(group_arn, dataset_type))
        if dataset is None or dataset.kind != DATASET.kind:
            continue
        schema = runtime.metadata.get(str(dataset.attributes.get("schemaArn")))
        if schema is not None:
            found[dataset_type] = parse_schema_text(schema.attributes["schema"])
    return found


def _updated_metrics(
    arn: str,
    current: Sequence[Mapping[str, Any]],
    added: Sequence[Mapping[str, Any]],
    removed: Sequence[str],
) -> list[dict[str, str]]:
    names = [str(metric["metricName"]) for metric in current]
    unknown = [name for name in removed if name not in names]
    if unknown:
        raise InvalidInput(
            f"Metric attribution {arn} has no metric named {', '.join(unknown)}; "
            f"its metrics are {', '.join(names)}"
        )
    kept = [_stored(metric) for metric in current if metric["metricName"] not in removed]
    for metric in added:
        if any(existing["metricName"] == metric["metricName"] for existing in kept):
            raise ResourceAlreadyExists(
                f"Metric attribution {arn} already has a metric named {metric['metricName']}"
            )
        kept.append(_stored(metric))
    if not kept:
        raise InvalidInput(f"Metric attribution {arn} would have no metrics left")
    if len(kept) > MAX_METRICS:
        raise InvalidInput(
            f"Metric attribution {arn} would have {len(kept)} metrics; it can have at most "
            f"{MAX_METRICS}"
        )
    return kept


def _checked_output(runtime: Runtime, output: Mapping[str, Any]) -> dict[str, Any]:
    role = str(output.get("roleArn") or "")
    if not is_role_arn(role):
        raise InvalidInput(
            f"metricsOutputConfig.roleArn {role} is not an IAM role ARN ({ROLE_ARN_FORM})"
        )
    checked: dict[str, Any] = {"roleArn": role}
    destination = output.get("s3DataDestination")
    if destination:
        path = str(destination.get("path") or "")
        try:
            runtime.external.check_uri(path)
        except ExternalDataError as error:
            raise InvalidInput(f"metricsOutputConfig.s3DataDestination.path: {error}") from None
        key = destination.get("kmsKeyArn")
        if key and not is_kms_key_arn(key):
            raise InvalidInput(
                f"metricsOutputConfig.s3DataDestination.kmsKeyArn {key} is not a KMS key ARN"
            )
        checked["s3DataDestination"] = {"path": path, **({"kmsKeyArn": key} if key else {})}
    return checked
