"""Dataset versions from import rows: parts, ID replacement, previous data in a newer schema."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from augury.personalize.import_fields import ImportField, arrow_schema
from augury.personalize.import_store import VersionBuilder

USERS = (
    ImportField("USER_ID", "USER_ID", "string", nullable=False),
    ImportField("AGE", "AGE", "int", nullable=True),
    ImportField("PLAN", "PLAN", "string", nullable=True, categorical=True),
)
INTERACTIONS = (
    ImportField("USER_ID", "USER_ID", "string", nullable=False),
    ImportField("ITEM_ID", "ITEM_ID", "string", nullable=False),
    ImportField("TIMESTAMP", "TIMESTAMP", "long", nullable=False),
)


def batch(fields: tuple[ImportField, ...], **columns: list) -> pa.RecordBatch:
    schema = arrow_schema(fields)
    return pa.RecordBatch.from_arrays(
        [pa.array(columns[f.column], schema.field(f.column).type) for f in fields], schema=schema
    )


def rows(parts: list[Path]) -> list[dict]:
    return [row for part in parts for row in pq.read_table(part).to_pylist()]


def test_users_keep_the_last_row_per_id_over_previous_data(tmp_path: Path) -> None:
    previous = tmp_path / "previous.parquet"
    pq.write_table(  # written before PLAN was added to the schema
        pa.table({"USER_ID": ["a", "b", "c"], "AGE": pa.array([1, 2, 3], pa.int64())}), previous
    )
    builder = VersionBuilder(USERS, "USERS", tmp_path / "work", rows_per_part=2)
    builder.add(batch(USERS, USER_ID=["b", "d"], AGE=[20, 40], PLAN=["gold", None]))
    builder.add(batch(USERS, USER_ID=["b", "e"], AGE=[21, 50], PLAN=[None, "free"]))
    written = builder.finish([previous])
    assert written.new_rows == 4
    assert written.rows == 5
    assert all(pq.read_table(p).num_rows <= 2 for p in written.parts)
    assert rows(written.parts) == [
        {"USER_ID": "a", "AGE": 1, "PLAN": None},
        {"USER_ID": "c", "AGE": 3, "PLAN": None},
        {"USER_ID": "d", "AGE": 40, "PLAN": None},
        {"USER_ID": "b", "AGE": 21, "PLAN": None},
        {"USER_ID": "e", "AGE": 50, "PLAN": "free"},
    ]


def test_interactions_append_after_previous_rows(tmp_path: Path) -> None:
    previous = tmp_path / "previous.parquet"
    pq.write_table(pa.table({"USER_ID": ["a"], "ITEM_ID": ["x"], "TIMESTAMP": [5]}), previous)
    builder = VersionBuilder(INTERACTIONS, "INTERACTIONS", tmp_path / "work")
    builder.add(batch(INTERACTIONS, USER_ID=["a", "a"], ITEM_ID=["x", "y"], TIMESTAMP=[5, 6]))
    written = builder.finish([previous])
    assert written.rows == 3
    assert [r["TIMESTAMP"] for r in rows(written.parts)] == [5, 5, 6]
    assert pq.read_table(written.parts[0]).schema == arrow_schema(INTERACTIONS)
