"""The serving tests' world: an embedded runtime with dataset data and small real models.

Dataset records with Parquet data, solution versions whose model files are
written by ``augury_training.recommender_artifacts.write_recommender``, filters
and campaigns as records. Twenty items in two genres: comedies c0..c9 and
dramas d0..d9. Dramas are the more popular (d0 most of all); each item's
neighbours are the other items of its genre. User ``fan`` watched three
comedies; ``critic`` watched dramas. Shared by the serving and model-cache tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from augury.personalize.resource_types import (
    CAMPAIGN,
    DATASET,
    DATASET_GROUP,
    FILTER,
    SCHEMA,
    SOLUTION,
    SOLUTION_VERSION,
)
from augury.resources.record import Resource
from augury.runtime import Runtime
from augury_training.recommender_artifacts import write_recommender

COMEDIES = [f"c{n}" for n in range(10)]
DRAMAS = [f"d{n}" for n in range(10)]
CATALOG = COMEDIES + DRAMAS
POPULARITY = [100.0 - 10 * n for n in range(10)] + [200.0 - 10 * n for n in range(10)]
LATEST = 1_700_000_000
DAY = 86_400
HISTORIES = {"fan": ["c0", "c1", "c2"], "critic": ["d3", "d4"]}
INTERACTIONS = [
    ("fan", "c0", "watch", LATEST - 30 * DAY),
    ("fan", "c1", "watch", LATEST - 20 * DAY),
    ("fan", "c2", "click", LATEST - 10 * DAY),
    ("critic", "d3", "watch", LATEST - 9 * DAY),
    ("critic", "d4", "watch", LATEST - 8 * DAY),
]


def neighbour_arrays() -> dict[str, np.ndarray]:
    """Each item's neighbours: the rest of its genre, nearer numbers first."""
    rows, scores = [], []
    for genre in (COMEDIES, DRAMAS):
        for item in genre:
            others = sorted(
                (o for o in genre if o != item), key=lambda o: abs(int(o[1:]) - int(item[1:]))
            )
            rows.append([CATALOG.index(o) for o in others])
            scores.append([1.0 - 0.05 * rank for rank in range(len(others))])
    return {
        "neighbour_items.npy": np.asarray(rows, dtype=np.int32),
        "neighbour_scores.npy": np.asarray(scores, dtype=np.float32),
    }


def write_model(
    directory: Path,
    recipe: str,
    recipe_type: str,
    kind: str,
    arrays: dict[str, np.ndarray] | None = None,
) -> None:
    creation = np.full(len(CATALOG), float(LATEST - 400 * DAY))
    creation[CATALOG.index("c8")] = LATEST - 5 * DAY  # two new comedies, rarely seen
    creation[CATALOG.index("c9")] = LATEST - 3 * DAY
    users = sorted(HISTORIES)
    write_recommender(
        directory,
        {
            "recipe": recipe,
            "recipe_type": recipe_type,
            "kind": kind,
            "latest_interaction_seconds": LATEST,
        },
        item_ids=CATALOG,
        user_ids=users,
        popularity=np.asarray(POPULARITY),
        histories=[np.asarray([CATALOG.index(i) for i in HISTORIES[u]]) for u in users],
        arrays={**(neighbour_arrays() if kind == "neighbours" else {}), **(arrays or {})},
        item_creation_seconds=creation,
    )


@dataclass
class World:
    """An embedded runtime holding one dataset group and what serving reads."""

    runtime: Runtime
    tmp: Path
    group: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    put_items: list[dict[str, Any]] = field(default_factory=list)
    put_users: list[dict[str, Any]] = field(default_factory=list)
    filters: int = 0

    def record(self, kind: Any, name: str, parent: str | None = None, **attributes: Any) -> str:
        arn = self.runtime.arns.build("personalize", kind.arn_kind, name)
        self.runtime.metadata.create(
            Resource(
                arn=arn,
                kind=kind.kind,
                name=name,
                status="ACTIVE",
                parent_arn=parent,
                attributes=attributes,
            )
        )
        return arn

    def dataset(self, kind: str, fields: list[dict[str, Any]], table: pa.Table) -> None:
        schema = {"type": "record", "name": kind.title(), "fields": fields, "version": "1.0"}
        schema_arn = self.record(SCHEMA, f"{kind.lower()}-schema", schema=json.dumps(schema))
        prefix = f"test-data/{kind.lower()}/"
        local = self.tmp / f"{kind.lower()}.parquet"
        pq.write_table(table, local)
        self.runtime.blobs.upload_file(local, prefix + "part-00000.parquet")
        self.record(
            DATASET,
            f"{kind.lower()}-data",
            self.group,
            datasetType=kind,
            schemaArn=schema_arn,
            _data_prefix=prefix,
            _data_rows=table.num_rows,
        )

    def version(
        self,
        name: str,
        recipe: str,
        recipe_type: str,
        kind: str = "neighbours",
        arrays: dict[str, np.ndarray] | None = None,
    ) -> str:
        model = self.tmp / "models" / name
        write_model(model, recipe, recipe_type, kind, arrays)
        prefix = f"test-models/{name}/"
        for path in sorted(model.rglob("*")):
            if path.is_file():
                self.runtime.blobs.upload_file(path, prefix + path.relative_to(model).as_posix())
        solution = self.record(
            SOLUTION, name, self.group, datasetGroupArn=self.group, recipeArn=recipe
        )
        arn = f"{solution}/{name}-v1"
        self.runtime.metadata.create(
            Resource(
                arn=arn,
                kind=SOLUTION_VERSION.kind,
                name=name,
                status="ACTIVE",
                parent_arn=solution,
                attributes={"_model_prefix": prefix, "datasetGroupArn": self.group},
            )
        )
        self.versions[name] = arn
        return arn

    def filter(self, name: str, expression: str) -> str:
        """A new ACTIVE filter (a fresh name each call, as tests share one world)."""
        self.filters += 1
        return self.record(
            FILTER, f"{name}-{self.filters}", self.group, filterExpression=expression
        )

    def campaign(self, name: str, version: str, **config: Any) -> str:
        solution = self.runtime.metadata.get(version).parent_arn
        return self.record(
            CAMPAIGN,
            name,
            solution,
            solutionVersionArn=version,
            campaignConfig=config,
            minProvisionedTPS=1,
        )


def build_world(runtime: Runtime, tmp: Path) -> World:
    world = World(runtime, tmp)
    world.group = world.record(DATASET_GROUP, "shop")
    world.dataset(
        "ITEMS",
        [
            {"name": "ITEM_ID", "type": "string"},
            {"name": "GENRE", "type": "string", "categorical": True},
            {"name": "PRICE", "type": "float"},
            {"name": "title", "type": ["null", "string"]},
        ],
        pa.table(
            {
                "ITEM_ID": CATALOG,
                "GENRE": ["Comedy"] * 10 + ["Drama|Classic"] * 10,
                "PRICE": [float(5 + n) for n in range(20)],
                "title": [f"Title {item}" for item in CATALOG],
            }
        ),
    )
    world.dataset(
        "USERS",
        [{"name": "USER_ID", "type": "string"}, {"name": "TIER", "type": "string"}],
        pa.table({"USER_ID": ["fan", "critic"], "TIER": ["gold", "free"]}),
    )
    world.dataset(
        "INTERACTIONS",
        [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "EVENT_TYPE", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
        ],
        pa.table(
            {
                "USER_ID": [row[0] for row in INTERACTIONS],
                "ITEM_ID": [row[1] for row in INTERACTIONS],
                "EVENT_TYPE": [row[2] for row in INTERACTIONS],
                "TIMESTAMP": pa.array([row[3] for row in INTERACTIONS], pa.int64()),
            }
        ),
    )
    return world


def event(item: str, event_type: str = "click", moment: int = LATEST + 60) -> dict[str, Any]:
    return {
        "ITEM_ID": item,
        "EVENT_TYPE": event_type,
        "EVENT_VALUE": None,
        "TIMESTAMP": moment,
        "RECOMMENDATION_ID": None,
        "IMPRESSION": None,
    }
