"""The training workflow's data rules, without a server: minimum data, event filters, columns."""

from __future__ import annotations

import pyarrow as pa

from augury.personalize.solution_data import dropped_columns, minimum_data_problem, training_rows
from augury.workflows.personalize_batch import output_uri


def table(users: int, per_user: int) -> pa.Table:
    rows = [
        {
            "USER_ID": f"u{u}",
            "EVENT_TYPE": "click" if k % 2 else "buy",
            "EVENT_VALUE": float(k),
        }
        for u in range(users)
        for k in range(per_user)
    ]
    return pa.Table.from_pylist(rows)


def test_minimum_data_counts_interactions_then_users_with_two():
    assert minimum_data_problem(table(25, 40), "here") is None
    assert "999 interactions" in minimum_data_problem(table(1, 999), "here")
    one_each = pa.concat_tables([table(1000, 1), table(24, 2)])
    problem = minimum_data_problem(one_each, "here")
    assert problem is not None and "24 users" in problem and "25" in problem


def test_event_filters_keep_what_the_solution_trains_on():
    rows = table(2, 10)
    assert (
        training_rows(rows, event_type="click", event_value_threshold=None, events_config=None)[
            "EVENT_TYPE"
        ].to_pylist()
        == ["click"] * 10
    )
    kept = training_rows(rows, event_type=None, event_value_threshold="8", events_config=None)
    assert kept["EVENT_VALUE"].to_pylist() == [8.0, 9.0, 8.0, 9.0]
    config = {"eventParametersList": [{"eventType": "buy", "eventValueThreshold": 6}]}
    kept = training_rows(rows, event_type=None, event_value_threshold=None, events_config=config)
    assert kept["EVENT_VALUE"].to_pylist() == [6.0, 8.0, 6.0, 8.0]


def test_training_data_config_never_drops_required_columns():
    columns = ["USER_ID", "ITEM_ID", "TIMESTAMP", "DEVICE", "LOCATION"]
    required = {"USER_ID", "ITEM_ID", "TIMESTAMP"}
    excluded = {"excludedDatasetColumns": {"INTERACTIONS": ["DEVICE"]}}
    assert dropped_columns(excluded, "INTERACTIONS", columns, required) == {"DEVICE"}
    assert dropped_columns(excluded, "ITEMS", columns, required) == set()
    included = {"includedDatasetColumns": {"INTERACTIONS": ["LOCATION"]}}
    assert dropped_columns(included, "INTERACTIONS", columns, required) == {"DEVICE"}


def test_batch_output_is_named_after_the_input_file():
    assert output_uri("s3://b/out/", "s3://b/in/users.json") == "s3://b/out/users.json.out"
    assert output_uri("s3://b/out", "s3://b/in/a.jsonl") == "s3://b/out/a.jsonl.out"


def test_many_event_files_are_fetched_several_at_a_time_and_read_in_order(tmp_path):
    """A day of events is tens of thousands of small files: the counts read them all, in
    name order, without waiting for one download to end before the next begins."""
    import threading
    import time
    from types import SimpleNamespace

    import pyarrow.parquet as pq

    from augury.local.file_blobs import FileBlobStore
    from augury.personalize.solution_data import read_columns
    from augury.settings import Settings

    class SlowBlobs(FileBlobStore):
        def __init__(self, root) -> None:
            super().__init__(root)
            self.active, self.most = 0, 0
            self.lock = threading.Lock()

        def download_file(self, key, path) -> None:
            with self.lock:
                self.active += 1
                self.most = max(self.most, self.active)
            time.sleep(0.01)  # S3's latency, roughly
            super().download_file(key, path)
            with self.lock:
                self.active -= 1

    blobs = SlowBlobs(tmp_path / "blobs")
    for number in range(40):
        local = tmp_path / f"{number}.parquet"
        pq.write_table(pa.table({"USER_ID": [f"u{number}"], "EXTRA": [1]}), local)
        blobs.upload_file(local, f"events/{number:04d}-x.parquet")
    runtime = SimpleNamespace(blobs=blobs, settings=Settings.embedded(tmp_path / "data"))
    read = read_columns(runtime, ["events/"], ("USER_ID", "EVENT_TYPE"))
    assert read.column_names == ["USER_ID"]
    assert read["USER_ID"].to_pylist() == [f"u{n}" for n in range(40)]
    assert blobs.most > 1
