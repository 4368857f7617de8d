"""The data a predictor trains on: a dataset group's datasets, checked and described.

CreateAutoPredictor and CreatePredictor refuse at once a group that cannot be
trained on (no target time series, a dataset without imported data, a dataset
still being imported), so the user learns it from the call, not an hour later.
The training workflow reads the same description to build the job.

A dataset's imported data lives under the blob prefix recorded in its
``_data_prefix`` attribute (written by the dataset import workflow): Parquet
files with one column per schema attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from augury.forecast.data_spans import recorded_end
from augury.forecast.domains import (
    ITEM_METADATA,
    NUMERIC,
    RELATED_TIME_SERIES,
    STRING,
    TARGET_TIME_SERIES,
    Domain,
    domain,
)
from augury.forecast.imports import FULL
from augury.forecast.resource_types import DATASET, DATASET_GROUP
from augury.resources import crud
from augury.resources.data_versions import DATA_PREFIX
from augury.resources.errors import InvalidInput, ResourceInUse
from augury.resources.record import Resource
from augury.resources.status import Status
from augury_training.forecast_contract import METADATA_CHANNEL, RELATED_CHANNEL, TARGET_CHANNEL

if TYPE_CHECKING:
    from augury.runtime import Runtime

IMPORT_JOB_KIND = "forecast:dataset-import-job"


@dataclass(frozen=True)
class DatasetData:
    """One dataset of the group: its schema, frequency and where its data is."""

    arn: str
    dataset_type: str
    schema: tuple[tuple[str, str], ...]
    frequency: str | None
    data_prefix: str | None
    end: datetime | None = None
    """The last timestamp of its data, as its import recorded it (``None`` for item
    metadata, and for data imported before Augury recorded it)."""

    def names(self, *types: str) -> list[str]:
        return [name for name, kind in self.schema if not types or kind in types]


@dataclass(frozen=True)
class GroupData:
    """A dataset group ready to train on."""

    group_arn: str
    domain: Domain
    target: DatasetData
    related: DatasetData | None = None
    metadata: DatasetData | None = None

    @property
    def item_field(self) -> str:
        return self.domain.identifier

    @property
    def target_field(self) -> str:
        return self.domain.target.name

    @property
    def datasets(self) -> list[DatasetData]:
        return [d for d in (self.target, self.related, self.metadata) if d is not None]

    def dimension_candidates(self) -> list[str]:
        """Target attributes that may be forecast dimensions: the strings besides the id."""
        return [n for n in self.target.names(STRING) if n != self.item_field]

    def related_fields(self) -> list[str]:
        """The related time series' features: its numeric attributes."""
        return self.related.names(*NUMERIC) if self.related else []

    def metadata_fields(self) -> list[str]:
        if self.metadata is None:
            return []
        return [n for n in self.metadata.names() if n != self.item_field]

    def channels(self) -> dict[str, str]:
        """Training channels: the datasets' current data prefixes."""
        channels = {TARGET_CHANNEL: str(self.target.data_prefix)}
        if self.related is not None:
            channels[RELATED_CHANNEL] = str(self.related.data_prefix)
        if self.metadata is not None:
            channels[METADATA_CHANNEL] = str(self.metadata.data_prefix)
        return channels


def load_group(runtime: Runtime, group_arn: str) -> GroupData:
    """The group's datasets, each ACTIVE with imported data, or the reason it cannot train."""
    group = crud.get_record(runtime, DATASET_GROUP, group_arn)
    status = Status(group.status)
    if status != Status.ACTIVE:
        raise ResourceInUse(f"Dataset group {group_arn} is {status.value}; it must be ACTIVE")
    the_domain = domain(group.attributes["Domain"])
    found: dict[str, DatasetData] = {}
    for arn in group.attributes.get("DatasetArns") or []:
        data = _dataset(runtime, group_arn, arn)
        found[data.dataset_type] = data
    target = found.get(TARGET_TIME_SERIES)
    if target is None:
        raise InvalidInput(
            f"Dataset group {group_arn} has no TARGET_TIME_SERIES dataset. Add one with "
            "UpdateDatasetGroup and import data into it before training a predictor"
        )
    return GroupData(
        group_arn,
        the_domain,
        target,
        related=found.get(RELATED_TIME_SERIES),
        metadata=found.get(ITEM_METADATA),
    )


def _dataset(runtime: Runtime, group_arn: str, arn: str) -> DatasetData:
    record = runtime.metadata.get(arn)
    if record is None or record.kind != DATASET.kind:
        raise InvalidInput(
            f"Dataset {arn} of dataset group {group_arn} no longer exists; remove it from the "
            "group with UpdateDatasetGroup"
        )
    status = Status(record.status)
    if status.working:
        raise ResourceInUse(
            f"Dataset {arn} is {status.value}; wait until its import finishes, then try again"
        )
    prefix = record.attributes.get(DATA_PREFIX)
    if not prefix:
        raise InvalidInput(
            f"Dataset {arn} has no imported data. Import data with CreateDatasetImportJob "
            "(and wait until the import job is ACTIVE) before training a predictor"
        )
    attributes = record.attributes.get("Schema", {}).get("Attributes") or []
    return DatasetData(
        arn=arn,
        dataset_type=record.attributes["DatasetType"],
        schema=tuple((a["AttributeName"], a["AttributeType"]) for a in attributes),
        frequency=record.attributes.get("DataFrequency"),
        data_prefix=prefix,
        end=recorded_end(record.attributes),
    )


def import_job_arns(runtime: Runtime, group: GroupData) -> list[str]:
    """The ACTIVE import jobs whose data the group holds now (DescribePredictor lists them):
    for each dataset, its latest FULL import and the INCREMENTAL ones after it. A FULL
    import replaces a dataset's data, so the imports before it trained nothing."""
    arns: list[str] = []
    for dataset in group.datasets:
        loaded: list[Resource] = []
        cursor = None
        while True:  # creation order: the order the imports applied their data
            page = runtime.metadata.list(parent_arn=dataset.arn, limit=100, cursor=cursor)
            loaded.extend(
                child
                for child in page.items
                if child.kind == IMPORT_JOB_KIND and child.status == Status.ACTIVE.value
            )
            cursor = page.cursor
            if cursor is None:
                break
        replacing = [
            i for i, job in enumerate(loaded) if job.attributes.get("ImportMode", FULL) == FULL
        ]
        arns.extend(job.arn for job in loaded[(replacing[-1] if replacing else 0) :])
    return arns
