"""What real-time serving reads from the rest of Personalize, in one place.

Serving depends on four neighbours: the dataset group's imported data
(``group_data``), the events that arrived since training (``event_data``),
the compiled filters (``filters``) and the solution-version records. Each is
reached through one small function here, so the serving modules stay readable
and a test can stand in for a neighbour by patching one name.

The neighbours are imported when first called: they import pyarrow and their
own helpers, and serving must stay importable (and light) without them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from augury.personalize.resource_types import MODEL_KINDS, SOLUTION
from augury.resources.errors import ResourceNotFound

if TYPE_CHECKING:
    import pyarrow as pa

    from augury.personalize.group_data import GroupDataset
    from augury.runtime import Runtime

RECENT_EVENT_LIMIT = 200
"""Most recent events per user that serving reads on each call."""
DATA_READ_AT = "_data_read_at"
"""Solution-version attribute (epoch seconds): when training read its data. Events received
before then are already in the model's stored histories, so serving reads only later ones."""
INTERACTIONS_READ = "_interactions_read"
"""Solution-version attribute: the Interactions dataset version (its data prefix) training
read. Trending-Now re-reads the dataset once a later import has replaced that version."""


def group_datasets(runtime: Runtime, dataset_group_arn: str) -> Mapping[str, GroupDataset]:
    """The group's datasets keyed ``INTERACTIONS`` / ``USERS`` / ``ITEMS``."""
    from augury.personalize import group_data

    return group_data.group_datasets(runtime, dataset_group_arn)


def read_table(runtime: Runtime, prefix: str | None) -> pa.Table:
    """Every Parquet file under ``prefix``, as one table (empty when none).

    A file gone between listing and reading (a version a data deletion job replaced, an
    event file merged or rewritten) is left out rather than failing the request: the
    next refresh sees what replaced it.
    """
    from augury.personalize import group_data

    return group_data.read_table(runtime, prefix, missing_ok=True)


def read_files(runtime: Runtime, keys: Sequence[str]) -> pa.Table:
    """The Parquet files ``keys``, as one table (empty when none); files gone since they
    were listed are left out, as :func:`read_table` does."""
    from augury.personalize import group_data

    return group_data.read_files(runtime, keys, missing_ok=True)


def recent_events(
    runtime: Runtime, dataset_group_arn: str, user_id: str, since: float | None = None
) -> list[dict[str, Any]]:
    """The user's events since training, oldest first (ITEM_ID, EVENT_TYPE, TIMESTAMP...)."""
    from augury.personalize import event_data

    if since is None:
        return event_data.recent_events(runtime, dataset_group_arn, user_id, RECENT_EVENT_LIMIT)
    return event_data.recent_events(
        runtime, dataset_group_arn, user_id, RECENT_EVENT_LIMIT, since=since
    )


def recent_action_events(
    runtime: Runtime, dataset_group_arn: str, user_id: str
) -> list[dict[str, Any]]:
    """PutActionInteractions events of the user, oldest first."""
    from augury.personalize import event_data

    return event_data.recent_action_events(runtime, dataset_group_arn, user_id)


def recent_actions(runtime: Runtime, dataset_group_arn: str) -> list[dict[str, Any]]:
    """PutActions rows, upper-cased field names, the newest row per action."""
    from augury.personalize import event_data

    return event_data.recent_actions(runtime, dataset_group_arn)


def recent_items(runtime: Runtime, dataset_group_arn: str) -> list[dict[str, Any]]:
    """PutItems rows, upper-cased field names, the newest row per item."""
    from augury.personalize import event_data

    return event_data.recent_items(runtime, dataset_group_arn)


def recent_users(runtime: Runtime, dataset_group_arn: str) -> list[dict[str, Any]]:
    """PutUsers rows, upper-cased field names, the newest row per user."""
    from augury.personalize import event_data

    return event_data.recent_users(runtime, dataset_group_arn)


def events_prefix(dataset_group_arn: str) -> str:
    """Where PutEvents / PutUsers / PutItems are persisted for the next training."""
    from augury.personalize import event_data

    return event_data.events_prefix(dataset_group_arn)


def compiled_filter(runtime: Runtime, filter_arn: str, dataset_group_arn: str) -> Any:
    """The ACTIVE filter of the group behind ``filter_arn``, compiled once (``CompiledFilter``).

    ResourceNotFoundException for no such filter; InvalidInputException for one
    not ACTIVE or of another dataset group.
    """
    from augury.personalize import filters

    return filters.compiled_filter(runtime, filter_arn, dataset_group_arn=dataset_group_arn)


def solution_version_group(runtime: Runtime, solution_version_arn: str) -> str:
    """The dataset group a solution version was trained on (version → solution → group)."""
    version = runtime.metadata.get(solution_version_arn)
    if version is None or version.kind not in MODEL_KINDS:
        raise ResourceNotFound(f"No trained model found with ARN {solution_version_arn}")
    group = version.attributes.get("datasetGroupArn")
    if group:
        return str(group)
    solution_arn = version.parent_arn or version.attributes.get("solutionArn")
    solution = runtime.metadata.get(str(solution_arn)) if solution_arn else None
    if solution is None or solution.kind != SOLUTION.kind:
        raise ResourceNotFound(
            f"The solution of solution version {solution_version_arn} no longer exists"
        )
    return str(solution.attributes.get("datasetGroupArn") or solution.parent_arn)
