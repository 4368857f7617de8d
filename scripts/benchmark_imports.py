"""What a dataset import costs, Personalize's and Forecast's, read in one call or over many
invocations.

Each case writes CSV files under a fresh embedded data directory and imports them
with the import workflow's own steps, driven here as Step Functions drives them on
AWS: every step is called with the deadline of a simulated Lambda invocation, and
a step that raises ``ResourcePending`` is called again. Two ways per case:

- ``one call``: no deadline, as embedded mode runs it (every file in one call);
- ``sliced``: each invocation has ``--work-seconds`` of reading beyond the time
  ``file_slices`` keeps free, so it reads as many files as fit and goes on in the
  next; the figure to compare is the total time and what each invocation read.

Each case imports ``rows`` rows from ``files`` files (FULL), then a quarter as many
rows from a quarter as many files (INCREMENTAL: Interactions copy the previous
version's parts in the store, Users merge with the previous rows by ID, Forecast
sales replace the previous rows of the same item and day). Printed
per import: rows, rows stored after it, source size, wall time, rows per second,
invocations of the ``import`` step, and the process's peak resident memory so far
(interpreter and libraries included; one case per fresh process).

Usage (from the repository root)::

    .venv/bin/python scripts/benchmark_imports.py
    .venv/bin/python scripts/benchmark_imports.py --rows 8000000 --files 16 \\
        --output docs/benchmarks/imports.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lambdas"), str(ROOT / "training_containers")]

INTERACTIONS = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ],
    "version": "1.0",
}
USERS = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "PLAN", "type": "string", "categorical": True},
        {"name": "AGE", "type": "int"},
    ],
    "version": "1.0",
}
END_MARKER = "<!-- table:end -->"
KINDS = {"interactions": ("Interactions", INTERACTIONS), "users": ("Users", USERS)}
SALES = [
    {"AttributeName": "item_id", "AttributeType": "string"},
    {"AttributeName": "timestamp", "AttributeType": "timestamp"},
    {"AttributeName": "demand", "AttributeType": "float"},
]
BENCH_ROLE = "arn:aws:iam::000000000000:role/bench"
"""Forecast asks for a role; embedded mode checks its form and reads the data directory."""
SALES_DAYS = 100
"""A Forecast case's rows are items x days: ``rows / SALES_DAYS`` daily series."""


def write_files(folder: Path, kind: str, rows: int, files: int, seed: int) -> int:
    """``rows`` rows over ``files`` CSV files; their total size in bytes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    per_file = -(-rows // files)
    for number in range(files):
        count = min(per_file, rows - number * per_file)
        if kind == "interactions":
            table = pa.table(
                {
                    "USER_ID": pa.array(rng.integers(0, 100_000, count).astype(str)),
                    "ITEM_ID": pa.array(rng.integers(0, 20_000, count).astype(str)),
                    "TIMESTAMP": 1_700_000_000 + rng.integers(0, 10_000_000, count),
                    "EVENT_TYPE": pa.array(rng.choice(["click", "purchase"], count)),
                }
            )
        elif kind == "sales":  # whole series per file, SALES_DAYS days each
            first = number * per_file // SALES_DAYS + seed * 7
            items = np.repeat(np.arange(first, first + -(-count // SALES_DAYS)), SALES_DAYS)
            days = np.tile(np.arange(SALES_DAYS), len(items) // SALES_DAYS)
            table = pa.table(
                {
                    "item_id": pa.array(np.char.add("item", items.astype(str))),
                    "timestamp": pa.array((np.datetime64("2024-01-01") + days).astype(str)),
                    "demand": rng.random(len(items)) * 10,
                }
            )
            options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
            pa_csv.write_csv(table, folder / f"part-{number:04d}.csv", options)
            continue
        else:  # users: IDs repeat across files, the later row wins
            table = pa.table(
                {
                    "USER_ID": pa.array(rng.integers(0, rows // 2, count).astype(str)),
                    "PLAN": pa.array(rng.choice(["free", "pro", "team"], count)),
                    "AGE": rng.integers(18, 90, count).astype("int32"),
                }
            )
        options = pa_csv.WriteOptions(quoting_style="none")
        pa_csv.write_csv(table, folder / f"part-{number:04d}.csv", options)
    return sum(path.stat().st_size for path in folder.iterdir())


class SimulatedStepFunctions:
    """A ``WorkflowEngine`` that records starts; :meth:`run_all` runs them step by step,
    each call with a simulated invocation's deadline, again while it raises
    ``ResourcePending``, as the compiled state machine's Retry does."""

    def __init__(self, runtime: Any, invocation_seconds: float | None) -> None:
        self.runtime = runtime
        self.invocation_seconds = invocation_seconds
        self.pending: list[tuple[str, dict[str, Any]]] = []
        self.calls: dict[str, int] = {}

    def start(self, workflow: str, payload: Any) -> str:
        self.pending.append((workflow, dict(payload)))
        return f"simulated-{len(self.pending)}"

    def run_all(self) -> None:
        from augury.workflows.catalog import workflow
        from augury.workflows.definition import ResourceFailed, ResourcePending
        from augury.workflows.execution import run_failure, run_step

        while self.pending:
            name, state = self.pending.pop(0)
            try:
                for step in workflow(name).steps:
                    while True:
                        self.calls[step.name] = self.calls.get(step.name, 0) + 1
                        deadline = (
                            time.monotonic() + self.invocation_seconds
                            if self.invocation_seconds is not None
                            else None
                        )
                        try:
                            state = run_step(
                                self.runtime, name, step.name, state, deadline=deadline
                            )
                            break
                        except ResourcePending:
                            continue
            except ResourceFailed as failed:
                run_failure(self.runtime, name, state, str(failed))
                raise SystemExit(f"{name} failed: {failed}") from None


def one_case(
    kind: str, rows: int, files: int, work_seconds: float | None, id_partitions: int = 0
) -> list[dict[str, Any]]:
    """Import ``rows`` rows of ``kind`` from ``files`` files (FULL), then a quarter as many
    from a quarter as many files (INCREMENTAL), timing each; run in its own process.
    ``id_partitions`` forces how many partitions Users rows are merged in (as an import of
    tens of GB would plan them)."""
    from augury.api.operations import default_registry
    from augury.bootstrap import bootstrap
    from augury.settings import Settings
    from augury.workflows import personalize_id_merge
    from augury.workflows.file_slices import SPARE_SECONDS

    if id_partitions:
        personalize_id_merge.partition_count = lambda *_: id_partitions

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        runtime = bootstrap(Settings.embedded(root / "data"))
        invocation = None if work_seconds is None else SPARE_SECONDS + work_seconds
        engine = SimulatedStepFunctions(runtime, invocation)
        runtime.workflows = engine
        registry = default_registry()
        service = "forecast" if kind == "sales" else "personalize"

        def call(operation: str, **request: Any) -> dict[str, Any]:
            found = registry.get(service, operation)
            assert found is not None, operation
            return found(runtime, request)

        dataset = _dataset(call, engine, kind)
        results = []
        for mode, count, number in (
            ("FULL", rows, files),
            ("INCREMENTAL", rows // 4, max(1, files // 4)),
        ):
            # Embedded mode reads s3://<bucket>/<key> from <data>/s3/<bucket>/<key>.
            source = root / "data" / "s3" / "bench" / mode.lower()
            size = write_files(source, kind, count, number, seed=len(results))
            job = _start_import(call, kind, dataset, mode)
            engine.calls.clear()
            started = time.perf_counter()
            engine.run_all()
            seconds = time.perf_counter() - started
            _check_active(call, kind, job, mode)
            way = "one call" if work_seconds is None else f"sliced ({work_seconds:g} s a call)"
            if id_partitions:
                way += f", {id_partitions} ID partitions"
            results.append(
                {
                    "kind": kind,
                    "mode": mode,
                    "rows": count,
                    "stored_rows": runtime.metadata.get(dataset).attributes["_data_rows"],
                    "files": number,
                    "megabytes": size / 1e6,
                    "way": way,
                    "seconds": seconds,
                    "rows_per_second": count / seconds,
                    "import_calls": engine.calls.get("import", 0),
                    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                }
            )
    return results


def _dataset(call: Any, engine: SimulatedStepFunctions, kind: str) -> str:
    """An empty dataset of ``kind``, ACTIVE (its group too)."""
    if kind == "sales":
        dataset = call(
            "CreateDataset",
            DatasetName="bench",
            Domain="RETAIL",
            DatasetType="TARGET_TIME_SERIES",
            DataFrequency="D",
            Schema={"Attributes": SALES},
        )["DatasetArn"]
        engine.run_all()
        return dataset
    dataset_type, schema = KINDS[kind]
    group = call("CreateDatasetGroup", name="bench")["datasetGroupArn"]
    engine.run_all()
    schema_arn = call("CreateSchema", name="bench", schema=json.dumps(schema))["schemaArn"]
    dataset = call(
        "CreateDataset",
        name="bench",
        schemaArn=schema_arn,
        datasetGroupArn=group,
        datasetType=dataset_type,
    )["datasetArn"]
    engine.run_all()
    return dataset


def _start_import(call: Any, kind: str, dataset: str, mode: str) -> str:
    location = f"s3://bench/{mode.lower()}/"
    if kind == "sales":
        return call(
            "CreateDatasetImportJob",
            DatasetImportJobName=mode.lower(),
            DatasetArn=dataset,
            DataSource={"S3Config": {"Path": location, "RoleArn": BENCH_ROLE}},
            TimestampFormat="yyyy-MM-dd",
            ImportMode=mode,
        )["DatasetImportJobArn"]
    return call(
        "CreateDatasetImportJob",
        jobName=mode.lower(),
        datasetArn=dataset,
        dataSource={"dataLocation": location},
        importMode=mode,
    )["datasetImportJobArn"]


def _check_active(call: Any, kind: str, job: str, mode: str) -> None:
    if kind == "sales":
        status = call("DescribeDatasetImportJob", DatasetImportJobArn=job)
        state, reason = status["Status"], status.get("Message")
    else:
        status = call("DescribeDatasetImportJob", datasetImportJobArn=job)["datasetImportJob"]
        state, reason = status["status"], status.get("failureReason")
    if state != "ACTIVE":
        raise SystemExit(f"{mode} import ended {state}: {reason}")


def run_in_subprocess(
    kind: str, rows: int, files: int, work_seconds: float | None, id_partitions: int = 0
) -> list[dict[str, Any]]:
    command = [sys.executable, __file__, "--one", kind, str(rows), str(files), str(work_seconds)]
    command += [str(id_partitions)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"case {kind} {rows}x{files} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| Dataset | Mode | Rows | Stored rows | Files | Source (MB) | Way | Import calls | "
        "Wall (s) | Rows/s | Peak memory (MiB) |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['kind']} | {r['mode']} | {r['rows']:,} | {r['stored_rows']:,} | {r['files']} | "
            f"{r['megabytes']:.0f} | {r['way']} | {r['import_calls']} | {r['seconds']:.1f} | "
            f"{r['rows_per_second']:,.0f} | {r['peak_mib']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="interactions rows")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--user-rows", type=int, default=500_000)
    parser.add_argument("--sales-rows", type=int, default=2_000_000, help="Forecast rows")
    parser.add_argument("--work-seconds", type=float, default=2.0)
    parser.add_argument("--output", type=Path, help="also write the table to this Markdown file")
    parser.add_argument(
        "--id-partitions",
        type=int,
        default=8,
        help="also import the users in this many ID partitions, sliced (0: not)",
    )
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, rows, files, work, partitions = args.one
        work_seconds = None if work == "None" else float(work)
        found = one_case(kind, int(rows), int(files), work_seconds, int(partitions))
        print(json.dumps(found))
        return
    cases = [
        (kind, rows, work, 0)
        for kind, rows in (
            ("interactions", args.rows),
            ("users", args.user_rows),
            ("sales", args.sales_rows),
        )
        for work in (None, args.work_seconds)
    ]
    if args.id_partitions:
        cases.insert(4, ("users", args.user_rows, args.work_seconds, args.id_partitions))
    results = [
        row
        for kind, rows, work, partitions in cases
        for row in run_in_subprocess(kind, rows, args.files, work, partitions)
    ]
    text = table(results)
    print(text)
    if args.output:
        import pyarrow

        header = (
            "# Dataset imports: one call or many invocations\n\n"
            f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python "
            f"scripts/benchmark_imports.py --rows {args.rows} --files {args.files} "
            f"--user-rows {args.user_rows} --sales-rows {args.sales_rows} "
            f"--work-seconds {args.work_seconds:g} --id-partitions {args.id_partitions}` on "
            f"{platform.machine()} with {os.cpu_count()} CPU cores, Python "
            f"{platform.python_version()}, pyarrow {pyarrow.__version__}; files on local disk "
            "(embedded mode's blob store).\n\n"
        )
        # What follows the table (the reading of it, written by hand) is kept.
        kept = ""
        if args.output.exists() and END_MARKER in args.output.read_text():
            kept = args.output.read_text().split(END_MARKER, 1)[1]
        args.output.write_text(header + text + "\n" + END_MARKER + kept)


if __name__ == "__main__":
    main()
