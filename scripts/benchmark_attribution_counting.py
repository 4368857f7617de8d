"""How fast a metric attribution counts an import's interactions (``attribution_metrics.Tally``).

An Interactions import with ``publishAttributionMetricsToS3`` passes every row
through the tally, so its speed bounds the import's. This builds N
interactions (half with recommendation IDs of 20 campaigns, a tenth with an
eventAttributionSource, the rest neither) in batches of 65,536 rows, as the
import reader yields them, and times three metrics over them: SAMPLECOUNT,
SUM(Interactions.EVENT_VALUE) and SUM(Items.PRICE) over 100,000 items.

    python scripts/benchmark_attribution_counting.py [--rows 2000000]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pyarrow as pa

from augury.personalize.attribution_metrics import MetricSpec, Tally
from augury.personalize.attribution_sources import recommendation_id, source_tag

BATCH = 65_536


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    campaigns = [f"arn:aws:personalize:us-east-1:000000000000:campaign/c{n}" for n in range(20)]
    tags = {source_tag(arn): arn for arn in campaigns}
    items = pa.table(
        {"ITEM_ID": [f"i{n}" for n in range(100_000)], "PRICE": rng.uniform(1, 100, 100_000)}
    )
    specs = [
        MetricSpec("CLICKS", "click", "SAMPLECOUNT"),
        MetricSpec("VALUE", "purchase", "SUM", "INTERACTIONS", "EVENT_VALUE"),
        MetricSpec("REVENUE", "purchase", "SUM", "ITEMS", "PRICE"),
    ]
    tally = Tally("arn:ma", specs, tags.get, item_values=lambda: items)
    ids = [recommendation_id(campaigns[n % 20]) for n in range(10_000)]
    batches = []
    for start in range(0, args.rows, BATCH):
        n = min(BATCH, args.rows - start)
        kind = rng.random(n)
        batches.append(
            pa.table(
                {
                    "EVENT_TYPE": np.where(rng.random(n) < 0.7, "click", "purchase"),
                    "TIMESTAMP": 1_700_000_000 + rng.integers(0, 30 * 86_400, n),
                    "ITEM_ID": [f"i{k}" for k in rng.integers(0, 100_000, n)],
                    "EVENT_VALUE": rng.uniform(0, 10, n),
                    "RECOMMENDATION_ID": [
                        ids[int(k)] if kind[i] < 0.5 else None
                        for i, k in enumerate(rng.integers(0, 10_000, n))
                    ],
                    "EVENT_ATTRIBUTION_SOURCE": [
                        "newsletter" if 0.5 <= kind[i] < 0.6 else None for i in range(n)
                    ],
                }
            )
        )
    started = time.perf_counter()
    for batch in batches:
        tally.add_table(batch)
    seconds = time.perf_counter() - started
    points = tally.points()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.rows:,} interactions counted in {seconds:.2f} s "
        f"({args.rows / seconds:,.0f} rows/s); {len(points):,} points "
        f"(metric x source x 15-minute window); peak memory {peak:.0f} MiB"
    )


if __name__ == "__main__":
    main()
