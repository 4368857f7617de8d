"""What the Personalize solution, campaign and batch tests share.

A server whose personalization container is the fake one
(``tests/fixtures/fake_personalization_container.py``, which writes a real
popularity model), a Custom dataset group with Interactions (and optionally
Items) data put in place the way an import leaves it (Parquet under the
dataset's ``_data_prefix``), and waiting for Personalize statuses. Other
Personalize test files may import these.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
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
    str(Path(__file__).parents[1] / "fixtures" / "fake_personalization_container.py"),
]
FINISHED = ("ACTIVE", "CREATE FAILED", "CREATE STOPPED")
RECIPE = "arn:aws:personalize:::recipe/"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"

INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
        {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
    ],
    "version": "1.0",
}
ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRE", "type": ["null", "string"], "categorical": True},
        {"name": "PRICE", "type": ["null", "float"]},
    ],
    "version": "1.0",
}


def start_server(tmp_path: Path, containers: dict[str, list[str]] | None = None) -> EmbeddedServer:
    """An embedded Augury whose personalization container is the fake one."""
    server = create_server(
        tmp_path / "data", port=0, containers=containers or {"personalization": FAKE_CONTAINER}
    )
    return server.start_in_background()


def client_for(server: EmbeddedServer, service: str = "personalize") -> Any:
    return boto3.client(
        service,
        endpoint_url=server.endpoint(service),
        region_name="us-east-1",
        config=CLIENT_CONFIG,
    )


def interactions(
    users: int = 30, per_user: int = 40, items: int = 60, *, start: int = 1_700_000_000
) -> list[dict[str, Any]]:
    """``users`` x ``per_user`` interactions; item ``i{k:03d}`` gets more the smaller k is.

    User ``u`` interacts with items ``(u + j) % items`` for j < per_user, but also
    with item ``i000`` every 4th step, so i000 is the most popular item.
    """
    rows = []
    for user in range(users):
        for step in range(per_user):
            item = 0 if step % 4 == 0 else (user + step) % items
            rows.append(
                {
                    "USER_ID": f"u{user:02d}",
                    "ITEM_ID": f"i{item:03d}",
                    "TIMESTAMP": start + user * 1000 + step,
                    "EVENT_TYPE": "click" if step % 2 else "purchase",
                    "EVENT_VALUE": float(step % 10),
                    "DEVICE": "phone" if step % 3 else "tv",
                }
            )
    return rows


def item_rows(items: int = 60) -> list[dict[str, Any]]:
    return [
        {"ITEM_ID": f"i{k:03d}", "GENRE": "drama" if k % 2 else "comedy", "PRICE": float(k)}
        for k in range(items)
    ]


def wait_idle(server: EmbeddedServer, timeout: float = 30) -> None:
    assert server.runtime.workflows.wait_idle(timeout=timeout), "workflows still running"


def put_data(server: EmbeddedServer, dataset_arn: str, rows: list[dict[str, Any]]) -> str:
    """Store ``rows`` as the dataset's current data, as an import would."""
    path = dataset_arn.split(":dataset/", 1)[1]
    prefix = f"resources/personalize/dataset/{path}/data/test/"
    table = pa.Table.from_pylist(rows)
    if "TIMESTAMP" in table.column_names:
        table = table.set_column(
            table.column_names.index("TIMESTAMP"),
            "TIMESTAMP",
            table["TIMESTAMP"].cast(pa.int64()),
        )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    server.runtime.blobs.delete_prefix(prefix)
    server.runtime.blobs.put_bytes(prefix + "part-00000.parquet", sink.getvalue())
    crud.update(
        server.runtime,
        dataset_arn,
        lambda record: record.with_attributes(_data_prefix=prefix, _data_rows=len(rows)),
    )
    return prefix


def make_group(
    personalize: Any,
    server: EmbeddedServer,
    name: str,
    rows: list[dict[str, Any]] | None,
    *,
    items: list[dict[str, Any]] | None = None,
    domain: str | None = None,
) -> dict[str, str]:
    """An ACTIVE Custom group (or a Domain one) with an Interactions dataset (and Items when
    given).

    Returns the ARNs by ``group``, ``INTERACTIONS`` and ``ITEMS``.
    """
    in_domain = {"domain": domain} if domain else {}
    group = personalize.create_dataset_group(name=name, **in_domain)["datasetGroupArn"]
    wait_idle(server)
    arns = {"group": group}
    for kind, schema, data in (
        ("Interactions", INTERACTIONS_SCHEMA, rows),
        ("Items", ITEMS_SCHEMA, items),
    ):
        if kind == "Items" and items is None:
            continue
        schema_arn = personalize.create_schema(
            name=f"{name}-{kind.lower()}", schema=json.dumps(schema), **in_domain
        )["schemaArn"]
        dataset = personalize.create_dataset(
            name=f"{name}-{kind.lower()}",
            schemaArn=schema_arn,
            datasetGroupArn=group,
            datasetType=kind,
        )["datasetArn"]
        wait_idle(server)
        if data is not None:
            put_data(server, dataset, data)
        arns[kind.upper()] = dataset
    return arns


def wait_for(
    describe: Callable[[], dict], statuses: Iterable[str] = FINISHED, timeout: float = 60
) -> dict:
    """Describe until ``status`` is one of ``statuses``; the last answer (unwrapped)."""
    wanted = set(statuses)
    deadline = time.monotonic() + timeout
    while True:
        answer = describe()
        body = next(iter(v for k, v in answer.items() if k != "ResponseMetadata"))
        if body["status"] in wanted:
            return body
        assert time.monotonic() < deadline, f"still {body['status']} after {timeout} s"
        time.sleep(0.1)


def train(
    personalize: Any,
    group: str,
    name: str = "popular",
    recipe: str = "aws-popularity-count",
    timeout: float = 60,
    **solution: Any,
) -> tuple[str, str]:
    """An ACTIVE solution and one trained version: (solution ARN, version ARN); training
    may take ``timeout`` seconds."""
    solution_arn = personalize.create_solution(
        name=name, datasetGroupArn=group, recipeArn=RECIPE + recipe, **solution
    )["solutionArn"]
    wait_for(lambda: personalize.describe_solution(solutionArn=solution_arn))
    version = personalize.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]
    body = wait_for(
        lambda: personalize.describe_solution_version(solutionVersionArn=version), timeout=timeout
    )
    assert body["status"] == "ACTIVE", body.get("failureReason")
    return solution_arn, version


def error_of(raised: Any) -> tuple[str, str]:
    """(code, message) of a ``pytest.raises(ClientError)`` result."""
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def model_file(server: EmbeddedServer, version_arn: str, name: str) -> dict[str, Any]:
    """A JSON file the container left in the version's model."""
    prefix = server.runtime.metadata.get(version_arn).attributes["_model_prefix"]
    return json.loads(server.runtime.blobs.get_bytes(prefix + name))


@contextlib.contextmanager
def held_workflows(server: EmbeddedServer) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Hold workflow starts inside the block (so PENDING states stay observable); start them
    when it ends."""
    engine = server.runtime.workflows
    original = engine.start
    held: list[tuple[str, dict[str, Any]]] = []
    engine.start = lambda workflow, payload: held.append((workflow, dict(payload))) or "held"
    try:
        yield held
    finally:
        engine.start = original
        for workflow, payload in held:
            original(workflow, payload)


def watches(event_types: tuple[str, str] = ("Watch", "Click")) -> list[dict[str, Any]]:
    """30 users x 80 interactions over 200 items, even steps Watch and odd ones Click.

    1,200 Watch events: enough for the use cases that train on Watch only.
    """
    rows = interactions(per_user=80, items=200)
    for number, row in enumerate(rows):
        row["EVENT_TYPE"] = event_types[number % 2]
    return rows


def create_recommender(
    personalize: Any, group: str, name: str, use_case: str, **request: Any
) -> dict:
    """A recommender of ``use_case`` once its training ended (the description)."""
    arn = personalize.create_recommender(
        name=name, datasetGroupArn=group, recipeArn=RECIPE + use_case, **request
    )["recommenderArn"]
    return wait_for(lambda: personalize.describe_recommender(recommenderArn=arn))
