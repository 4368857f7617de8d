"""What the Forecast predictor and query tests share: a server running the fake
forecasting container, datasets with data, and waiting for a status.

Data is put in place the way an import leaves it (Parquet under a blob prefix,
named by the dataset's ``_data_prefix``), so these tests need nothing but the
predictor, forecast and query code they test.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

from augury.embedded.server import EmbeddedServer, create_server
from augury.resources import crud
from tests.conftest import CLIENT_CONFIG

FAKE_CONTAINER = [
    sys.executable,
    str(Path(__file__).parents[1] / "fixtures" / "fake_forecasting_container.py"),
]
START = datetime(2024, 1, 1)
FINISHED = ("ACTIVE", "CREATE_FAILED", "CREATE_STOPPED")
RETAIL_TARGET = [
    ("item_id", "string"),
    ("location", "string"),
    ("timestamp", "timestamp"),
    ("demand", "float"),
]


def start_server(tmp_path: Path) -> EmbeddedServer:
    """An embedded Augury whose forecasting container is the fake one."""
    server = create_server(tmp_path / "data", port=0, containers={"forecasting": FAKE_CONTAINER})
    return server.start_in_background()


def client_for(server: EmbeddedServer, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.endpoint(service),
        region_name="us-east-1",
        config=CLIENT_CONFIG,
    )


def schema(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    return {"Attributes": [{"AttributeName": n, "AttributeType": t} for n, t in pairs]}


def daily_rows(items: dict[str, str], days: int, start: datetime = START) -> list[dict]:
    """``days`` daily rows for each (item_id → location): demand = item number * 10 + day."""
    rows = []
    for number, (item, location) in enumerate(sorted(items.items()), start=1):
        for day in range(days):
            rows.append(
                {
                    "item_id": item,
                    "location": location,
                    "timestamp": start + timedelta(days=day),
                    "demand": float(number * 10 + day),
                }
            )
    return rows


def put_data(server: EmbeddedServer, dataset_arn: str, rows: list[dict]) -> str:
    """Store ``rows`` as the dataset's current data, as an import would."""
    name = dataset_arn.rsplit("/", 1)[-1]
    prefix = f"resources/forecast/dataset/{name}/data/test/"
    table = pa.Table.from_pylist(rows)
    if "timestamp" in table.column_names:
        index = table.column_names.index("timestamp")
        table = table.set_column(index, "timestamp", table["timestamp"].cast(pa.timestamp("s")))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    server.runtime.blobs.put_bytes(prefix + "part-00000.parquet", sink.getvalue())
    crud.update(
        server.runtime, dataset_arn, lambda record: record.with_attributes(_data_prefix=prefix)
    )
    return prefix


def make_group(
    forecast: Any,
    server: EmbeddedServer,
    name: str,
    rows: list[dict] | None,
    *,
    frequency: str = "D",
    target_schema: list[tuple[str, str]] = RETAIL_TARGET,
) -> tuple[str, str]:
    """A RETAIL dataset group with a target dataset (holding ``rows`` if given)."""
    dataset = forecast.create_dataset(
        DatasetName=f"{name}_sales",
        Domain="RETAIL",
        DatasetType="TARGET_TIME_SERIES",
        DataFrequency=frequency,
        Schema=schema(target_schema),
    )["DatasetArn"]
    group = forecast.create_dataset_group(
        DatasetGroupName=name, Domain="RETAIL", DatasetArns=[dataset]
    )["DatasetGroupArn"]
    if rows is not None:
        put_data(server, dataset, rows)
    return group, dataset


def wait_for(
    describe: Callable[[], dict], statuses: Iterable[str] = FINISHED, timeout: float = 60
) -> dict:
    """Describe until the status is one of ``statuses``; the last answer."""
    wanted = set(statuses)
    deadline = time.monotonic() + timeout
    while True:
        answer = describe()
        if answer["Status"] in wanted:
            return answer
        assert time.monotonic() < deadline, f"still {answer['Status']} after {timeout} s"
        time.sleep(0.1)


def error_of(raised: Any) -> tuple[str, str]:
    """(code, message) of a ``pytest.raises(ClientError)`` result."""
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]
