"""What merging recorded events' files costs, and what it saves the readers.

The event consumer writes one Parquet file per batch; ``event_compaction`` merges
each settled stretch of them into one. For each case this writes ``files``
batches of ``rows`` events each (as the consumer writes them, with eventIds and
arrival times, into one 100,000-second bucket) under a fresh embedded data
directory, then measures, in a fresh process per case so memory figures are the
merge's own:

- reading every file as training and a starting serving process do
  (``group_data.read_files``), before and after the merge;
- the merge itself (``compact_folder``): wall time, the process's peak resident
  memory (interpreter and libraries included) and Arrow's peak allocation.

Files are on local disk (embedded mode); on S3 each file read costs a GET
request of tens of milliseconds more, so the saving there is larger.

Usage (from the repository root)::

    .venv/bin/python scripts/benchmark_event_compaction.py
    .venv/bin/python scripts/benchmark_event_compaction.py --cases 1000x100 \\
        --output docs/benchmarks/event_compaction.md
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

DEFAULT_CASES = ("100x100", "1000x100", "1000x1000", "100x10000")
"""``files x rows``: a 1,000 s stretch at 100 events a second (1000x100), at 1,000 a
second (1000x1000), and the day-sized merge of ten 10,000 s files (100x10000)."""
T0 = 1_700_000_000.0
SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
    ],
}


def one_case(files: int, rows: int) -> dict[str, Any]:
    """Write, read, merge and read again; run in its own process."""
    import pyarrow as pa

    from augury.bootstrap import bootstrap
    from augury.personalize.event_compaction import compact_folder
    from augury.personalize.event_data import events_prefix
    from augury.personalize.event_files import ARRIVAL_COLUMN, write_rows
    from augury.personalize.event_manifests import merged_sources
    from augury.personalize.event_properties import cached_schema
    from augury.personalize.group_data import read_files
    from augury.settings import Settings

    schema = cached_schema(json.dumps(SCHEMA))
    prefix = events_prefix("arn:aws:personalize:us-east-1:000000000000:dataset-group/bench")
    prefix += "interactions/"
    with tempfile.TemporaryDirectory() as folder:
        runtime = bootstrap(Settings.embedded(Path(folder)), event_consumer=lambda batch: None)
        step = 99_000 / files  # every batch in the first 100,000-second bucket
        for number in range(files):
            at = T0 + number * step
            batch = [
                {
                    "EVENT_ID": f"{number}-{row}",
                    "USER_ID": f"u{(number * rows + row) % 50_000}",
                    "ITEM_ID": f"i{(number * 7 + row * 13) % 20_000}",
                    "TIMESTAMP": int(at),
                    "EVENT_TYPE": "click",
                    "EVENT_VALUE": None,
                    ARRIVAL_COLUMN: at,
                }
                for row in range(rows)
            ]
            write_rows(runtime, prefix, schema, batch, at)
        keys = list(runtime.blobs.list_keys(prefix))
        started = time.perf_counter()
        before = read_files(runtime, keys).num_rows
        read_before = time.perf_counter() - started

        pool = pa.default_memory_pool()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        merges = compact_folder(runtime, prefix, "EVENT_ID", now=T0 + 10_000_000)
        merge_seconds = time.perf_counter() - started
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        # What a reader counts: the merged files, not those they hold (kept an hour more).
        listed = list(runtime.blobs.list_keys(prefix))
        held = {key for sources in merged_sources(runtime, listed).values() for key in sources}
        merged = [key for key in listed if key.endswith(".parquet") and key not in held]
        started = time.perf_counter()
        after = read_files(runtime, merged).num_rows
        read_after = time.perf_counter() - started
        size = sum(len(runtime.blobs.get_bytes(key)) for key in merged)
        runtime.workflows.shutdown()  # type: ignore[attr-defined]
        runtime.events.close()  # type: ignore[attr-defined]
    assert before == after == files * rows, (before, after)
    return {
        "files": files,
        "rows": rows,
        "events": files * rows,
        "files_after": len(merged),
        "merges": len(merges),
        "read_before_s": read_before,
        "merge_s": merge_seconds,
        "read_after_s": read_after,
        "peak_rss_mib": max(peak_rss, rss_before),
        "rss_before_merge_mib": rss_before,
        "arrow_peak_mib": pool.max_memory() / 2**20,
        "merged_file_mib": size / 2**20,
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| batches x events | events | files after | read all before | merge | read after "
        "| peak RSS (before the merge) | Arrow peak | merged file |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['files']:,} x {r['rows']:,} | {r['events']:,} | {r['files_after']} "
            f"| {r['read_before_s']:.2f} s | {r['merge_s']:.2f} s | {r['read_after_s']:.3f} s "
            f"| {r['peak_rss_mib']:.0f} MiB ({r['rss_before_merge_mib']:.0f}) "
            f"| {r['arrow_peak_mib']:.0f} MiB | {r['merged_file_mib']:.1f} MiB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(DEFAULT_CASES), help="FILESxROWS")
    parser.add_argument("--output", type=Path, help="write the report here (Markdown)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        files, rows = (int(part) for part in args.one.split("x"))
        print(json.dumps(one_case(files, rows)))
        return
    results = []
    for case in args.cases:
        done = subprocess.run(
            [sys.executable, __file__, "--one", case],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path[:2])},
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(table(results[-1:]).splitlines()[-1], flush=True)
    report = table(results)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    load = os.getloadavg()[0]
    text = (
        "# Merging recorded events' files\n\n"
        "`scripts/benchmark_event_compaction.py`: each case writes that many consumer "
        "batches (eventIds, arrival times) into one 100,000-second bucket of an embedded "
        "data directory, reads them all as a training job or a starting serving process "
        "does, merges them (`event_compaction.compact_folder`, in a fresh process so the "
        "memory is the merge's), and reads the merged file. Peak RSS includes the "
        "interpreter and libraries (in brackets: before the merge). Local disk: on S3 "
        "each small file costs a GET request more, so reading them all is slower there "
        "and the saving larger.\n\n"
        f"Measured {stamp} on {machine} (1-minute load {load:.1f} at the end).\n\n"
        f"{report}\n"
    )
    print()
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
