"""Which dataset's histories serving reads: the scope cache must never mix up stores.

Two embedded runtimes (two tests, or a server restarted in one process) hold a
dataset under the same ARN created at different times; each must read its own.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from augury.personalize.event_data import dataset_arn, dataset_scope, group_scope
from augury.resources.record import Resource

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop"


class OneDatasetStore:
    """A metadata store holding only the group's Interactions dataset."""

    def __init__(self, created_at: datetime) -> None:
        arn = dataset_arn(GROUP, "INTERACTIONS")
        self.record = Resource(
            arn=arn, kind="dataset", name="interactions", status="ACTIVE", created_at=created_at
        )

    def get(self, arn: str) -> Resource | None:
        return self.record if arn == self.record.arn else None


def runtime_over(store: Any) -> Any:
    return SimpleNamespace(metadata=store)


def test_each_store_reads_its_own_dataset_scope_even_at_a_reused_address() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for attempt in range(50):
        # The previous store is freed first, so CPython tends to hand its address on.
        gc.collect()
        store = OneDatasetStore(start + timedelta(seconds=attempt))
        assert group_scope(runtime_over(store), GROUP, "INTERACTIONS") == dataset_scope(
            store.record
        )
        del store


def test_a_missing_dataset_reads_as_no_scope() -> None:
    store = OneDatasetStore(datetime(2026, 1, 1, tzinfo=UTC))
    assert group_scope(runtime_over(store), GROUP, "USERS") is None
