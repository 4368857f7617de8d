"""Reading a solution version's channels and keeping the interactions the solution trains on.

Channels are folders of Parquet files (see ``personalize_contract``). The
interactions are the Interactions dataset's rows followed by those recorded
through PutEvents (``events/interactions/``); users and items are the Users
and Items datasets' rows with PutUsers / PutItems rows after them, the later
row winning for an ID.

Then the solution's configuration decides which interactions count and how
much: ``eventType`` keeps one event type, ``eventValueThreshold`` drops events
whose value is below it, and ``eventsConfig`` keeps only the listed event types
(each with its own value threshold) and gives each its weight. Every kept row
carries that weight in a ``WEIGHT`` column (1.0 when no eventsConfig).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from augury_training.contract import ClientError, TrainPaths
from augury_training.event_rule import EventParameter, EventRule
from augury_training.personalization.context_features import context_fields
from augury_training.personalize_contract import (
    EVENTS_CHANNEL,
    INTERACTIONS_CHANNEL,
    ITEMS_CHANNEL,
    USERS_CHANNEL,
    SolutionJobConfig,
)

USER_ID = "USER_ID"
ITEM_ID = "ITEM_ID"
TIMESTAMP = "TIMESTAMP"
EVENT_TYPE = "EVENT_TYPE"
EVENT_VALUE = "EVENT_VALUE"
IMPRESSION = "IMPRESSION"
CREATION_TIMESTAMP = "CREATION_TIMESTAMP"
WEIGHT = "WEIGHT"

INTERACTION_COLUMNS = (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE)
"""The interaction columns every recipe reads; context fields are read besides them
(``context_features``), and IMPRESSION (the ``|``-joined items shown when the
interaction happened) only by :func:`load_unchosen_impressions`."""
EXPLORING_RECIPES = frozenset({"aws-user-personalization", "aws-user-personalization-v2"})
"""The recipes whose exploration reads impressions."""
IMPRESSION_BATCH_ROWS = 50_000
"""Interactions whose impression lists are split at a time (memory stays bounded)."""
EVENT_ID = "EVENT_ID"
"""The column recorded events keep their eventId in (``augury.personalize.event_files``)."""
ARRIVAL = "#RECEIVED_AT"
"""The column recorded rows keep their arrival time in (``augury.personalize.event_files``):
a merged file's rows are in arrival order, but its name is only its newest's."""


class DataError(ClientError):
    """The data cannot be trained on; the message is meant for the user."""


@dataclass
class JobData:
    """Everything a job trains on: filtered, weighted interactions (oldest first) and metadata."""

    interactions: pd.DataFrame
    users: pd.DataFrame | None
    items: pd.DataFrame | None
    filtered: bool = False
    field_kinds: dict[str, dict[str, str]] = field(default_factory=dict)
    """The Users, Items and Interactions fields' kinds from their schemas
    (``SolutionJobConfig``)."""
    unchosen_impressions: pd.Series | None = None
    """Item ID → times shown beside an interaction with another item (exploring recipes
    only; None without impressions)."""


def parquet_files(folder: Path, recursive: bool = True) -> list[Path]:
    """The Parquet files under ``folder`` in a stable order (none when it does not exist)."""
    if not folder.is_dir():
        return []
    pattern = "**/*.parquet" if recursive else "*.parquet"
    return sorted(p for p in folder.glob(pattern) if p.is_file())


def read_parquet(files: list[Path], columns: tuple[str, ...] | None = None) -> pd.DataFrame | None:
    """The files' rows, concatenated in order; ``columns`` limits what is read."""
    tables = []
    for path in files:
        try:
            schema = pq.read_schema(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"{path.name}: not a readable Parquet file ({exc})") from exc
        names = [c for c in schema.names if columns is None or c in columns]
        tables.append(pq.read_table(path, columns=names))
    if not tables:
        return None
    table = pa.concat_tables(tables, promote_options="permissive")
    return table.to_pandas()


def _first_of_each_event_id(events: pd.DataFrame) -> pd.DataFrame:
    """The recorded events less those after the first (in arrival order) with the same
    ``EVENT_ID``: Amazon's PutEvents says "Any subsequent events after the first with the
    same event ID are not used in model training". Files written before event IDs were
    kept have none, and their events all stay."""
    if EVENT_ID not in events.columns:
        return events
    ids = events[EVENT_ID]
    repeated = ids.notna() & ids.duplicated(keep="first")
    return events.loc[~repeated].drop(columns=EVENT_ID).reset_index(drop=True)


def load_interactions(paths: TrainPaths, context_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """The Interactions dataset's rows, then the recorded events', oldest first, with the
    ``INTERACTION_COLUMNS`` and the ``context_columns`` they have.

    Recorded events arrive at least once: a stream retry that splits a batch
    differently can leave one event in two files. Amazon counts identical
    events once, so identical event rows are kept once, and an event ID
    repeated by the caller counts only its first event.
    """
    events_dir = paths.channel(EVENTS_CHANNEL) / "interactions"
    columns = (*INTERACTION_COLUMNS, *context_columns)
    events = in_arrival_order(
        read_parquet(parquet_files(events_dir), (*columns, EVENT_ID, ARRIVAL))
    )
    if events is not None:
        events = _first_of_each_event_id(events).drop_duplicates(ignore_index=True)
    frames = [
        read_parquet(parquet_files(paths.channel(INTERACTIONS_CHANNEL)), columns),
        events,
    ]
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        raise DataError(
            "There are no interactions to train on: import data into the Interactions dataset "
            "or record events with PutEvents first."
        )
    return normalise_interactions(pd.concat(frames, ignore_index=True))


def normalise_interactions(frame: pd.DataFrame) -> pd.DataFrame:
    """IDs as strings, timestamps as int64, rows with no user or item dropped, oldest first."""
    for column in (USER_ID, ITEM_ID, TIMESTAMP):
        if column not in frame:
            raise DataError(f"The Interactions data has no {column} column.")
    frame = frame.dropna(subset=[USER_ID, ITEM_ID, TIMESTAMP])
    frame = frame.assign(
        USER_ID=frame[USER_ID].astype(str),
        ITEM_ID=frame[ITEM_ID].astype(str),
        TIMESTAMP=frame[TIMESTAMP].astype(np.int64),
    )
    if EVENT_VALUE in frame:
        frame[EVENT_VALUE] = pd.to_numeric(frame[EVENT_VALUE], errors="coerce").astype(float)
    if EVENT_TYPE in frame:
        frame[EVENT_TYPE] = frame[EVENT_TYPE].astype("string")
    frame = frame.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    return frame


def load_unchosen_impressions(paths: TrainPaths) -> pd.Series | None:
    """Per item ID, how often it was shown (IMPRESSION) while the interaction was with
    another item: every interaction counts, whatever the solution's event filters keep, an
    item repeated in one list counts once, and recorded events count once each as in
    :func:`load_interactions`. Read a batch at a time: impression lists are long."""
    totals: pd.Series | None = None

    def add(rows: pd.DataFrame) -> None:
        nonlocal totals
        counts = _unchosen_counts(rows)
        if counts is not None:
            totals = counts if totals is None else totals.add(counts, fill_value=0.0)

    for path in parquet_files(paths.channel(INTERACTIONS_CHANNEL)):
        parquet = pq.ParquetFile(path)
        if {ITEM_ID, IMPRESSION} - set(parquet.schema_arrow.names):
            continue
        for batch in parquet.iter_batches(IMPRESSION_BATCH_ROWS, columns=[ITEM_ID, IMPRESSION]):
            add(batch.to_pandas())
    events_dir = paths.channel(EVENTS_CHANNEL) / "interactions"
    events = read_parquet(
        parquet_files(events_dir), (ITEM_ID, IMPRESSION, USER_ID, TIMESTAMP, EVENT_ID, ARRIVAL)
    )
    events = in_arrival_order(events)
    if events is not None and IMPRESSION in events:
        add(_first_of_each_event_id(events).drop_duplicates(ignore_index=True))
    return totals


def _unchosen_counts(rows: pd.DataFrame) -> pd.Series | None:
    shown = rows[[ITEM_ID, IMPRESSION]].dropna(subset=[IMPRESSION])
    if shown.empty:
        return None
    pairs = shown.assign(SHOWN=shown[IMPRESSION].astype(str).str.split("|")).explode("SHOWN")
    pairs = pairs.assign(ROW=pairs.index)
    pairs = pairs[(pairs["SHOWN"] != "") & (pairs["SHOWN"] != pairs[ITEM_ID].astype(str))]
    pairs = pairs.drop_duplicates(subset=["ROW", "SHOWN"])
    return pairs["SHOWN"].value_counts().astype(float) if len(pairs) else None


def load_metadata(paths: TrainPaths, channel: str, id_column: str) -> pd.DataFrame | None:
    """A Users, Items or Actions table: the dataset's rows then PutUsers / PutItems /
    PutActions rows, latest per ID (the events sub-folder is named as the channel)."""
    sub = channel
    frames = [
        read_parquet(parquet_files(paths.channel(channel))),
        in_arrival_order(read_parquet(parquet_files(paths.channel(EVENTS_CHANNEL) / sub))),
    ]
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return None
    frame = pd.concat(frames, ignore_index=True)
    if id_column not in frame:
        raise DataError(f"The {sub.capitalize()} data has no {id_column} column.")
    frame = frame.dropna(subset=[id_column])
    frame[id_column] = frame[id_column].astype(str)
    frame = frame.drop_duplicates(subset=[id_column], keep="last")
    return frame.reset_index(drop=True)


def in_arrival_order(recorded: pd.DataFrame | None) -> pd.DataFrame | None:
    """Recorded rows oldest first, without their arrival column.

    Files sort by their newest row's arrival, which orders rows well until files are
    merged (``augury.personalize.event_compaction``): a row delivered again after its
    time's files were merged lands in a file named before the merged one, though it may
    be newer than some of that file's rows. Only the rows' own times order them all.
    """
    if recorded is None or ARRIVAL not in recorded.columns:
        return recorded
    ordered = recorded.sort_values(ARRIVAL, kind="stable", na_position="first")
    return ordered.drop(columns=ARRIVAL).reset_index(drop=True)


def load_job_data(paths: TrainPaths, config: SolutionJobConfig) -> JobData:
    """Read every channel and apply the solution's event filters and weights."""
    raw = load_interactions(paths, context_fields(config.field_kinds))
    interactions = select_events(raw, config)
    return JobData(
        interactions=interactions,
        users=load_metadata(paths, USERS_CHANNEL, USER_ID),
        items=load_metadata(paths, ITEMS_CHANNEL, ITEM_ID),
        filtered=is_filtering(config),
        field_kinds=dict(config.field_kinds),
        unchosen_impressions=load_unchosen_impressions(paths)
        if config.recipe in EXPLORING_RECIPES
        else None,
    )


def is_filtering(config: SolutionJobConfig) -> bool:
    return event_rule(config).filters


def event_rule(config: SolutionJobConfig) -> EventRule:
    """The solution's eventType / eventValueThreshold / eventsConfig, numbers checked."""
    threshold = config.event_value_threshold
    parameters = []
    for entry in _event_parameters(config):
        name = entry.get("eventType")
        if not name:
            raise DataError("eventsConfig.eventParametersList: every entry needs an eventType.")
        entry_threshold = entry.get("eventValueThreshold")
        weight = entry.get("weight")
        parameters.append(
            EventParameter(
                str(name),
                None
                if entry_threshold is None
                else _number(entry_threshold, f"eventsConfig eventValueThreshold of {name!r}"),
                None if weight is None else _number(weight, f"eventsConfig weight of {name!r}"),
            )
        )
    return EventRule(
        event_type=config.event_type or None,
        value_threshold=None
        if threshold in (None, "")
        else _number(threshold, "eventValueThreshold"),
        parameters=tuple(parameters),
    )


def select_events(frame: pd.DataFrame, config: SolutionJobConfig) -> pd.DataFrame:
    """The interactions this solution trains on, each with its ``WEIGHT``."""
    rule = event_rule(config)
    types = values = None
    if rule.reads_types:  # a missing column is named after the setting that needs it
        setting = "eventType" if rule.event_type else "eventsConfig"
        types = _event_types(frame, setting).astype(str).to_numpy(object)
    if rule.reads_values:
        setting = "eventValueThreshold" if rule.value_threshold is not None else "eventsConfig"
        values = _event_values(frame, setting).to_numpy(np.float64)
    keep, weights = rule.select(len(frame), types, values)
    kept = frame.loc[keep].copy()
    kept[WEIGHT] = weights[keep]
    return kept.reset_index(drop=True)


def _event_parameters(config: SolutionJobConfig) -> list[dict[str, Any]]:
    events_config = config.events_config or {}
    return list(events_config.get("eventParametersList") or [])


def _event_types(frame: pd.DataFrame, setting: str) -> pd.Series:
    if EVENT_TYPE not in frame:
        raise DataError(
            f"The solution's {setting} selects interactions by event type, but the Interactions "
            f"data has no {EVENT_TYPE} field."
        )
    return frame[EVENT_TYPE].fillna("")


def _event_values(frame: pd.DataFrame, setting: str) -> pd.Series:
    if EVENT_VALUE not in frame:
        raise DataError(
            f"The solution's {setting} keeps interactions by event value, but the Interactions "
            f"data has no {EVENT_VALUE} field."
        )
    return pd.to_numeric(frame[EVENT_VALUE], errors="coerce")


def _number(value: Any, setting: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"The solution's {setting} must be a number, not {value!r}.") from None
    if not np.isfinite(number):
        raise DataError(f"The solution's {setting} must be a finite number, not {value!r}.")
    return number
