"""Generate the bundled retail sample: daily demand with prices, promotions and metadata.

The README's main job imports this dataset, so it is committed under
``scripts/data/retail/`` (regenerate it with ``python scripts/retail_sample.py``;
the seed makes it identical). It has what a retailer's data has and what the
seeds' workflow exercises:

- ``target_time_series.csv``  item_id, location, timestamp, demand (daily, two
  stores, 18 months): weekly and yearly seasonality, a trend, holiday peaks,
  price elasticity, promotion lifts, negative-binomial noise, some
  intermittent slow movers and a few missing days;
- ``related_time_series.csv`` item_id, location, timestamp, price, promotion,
  with 14 days of future values (the forecast horizon);
- ``item_metadata.csv``       item_id, category, brand, including three new
  items with no sales history (cold start).

CSV files have no header and columns in schema order, as Amazon Forecast wants.
"""

from __future__ import annotations

import argparse
import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np

START = date(2023, 1, 1)
DAYS = 548
HORIZON = 14
LOCATIONS = ("store_north", "store_south")
CATEGORIES = {
    "beverages": (40.0, 1.2),
    "snacks": (25.0, 1.6),
    "household": (8.0, 0.8),
    "frozen": (15.0, 1.1),
}
BRANDS = ("acme", "globex", "initech", "umbrella")
HOLIDAY_LIFT = {(11, 24): 1.8, (11, 25): 2.2, (12, 23): 1.6, (12, 24): 1.9, (12, 25): 0.3}
OUT = Path(__file__).resolve().parent / "data" / "retail"


def items(rng: np.random.Generator) -> list[dict]:
    result = []
    for index in range(30):
        category = list(CATEGORIES)[index % len(CATEGORIES)]
        level, elasticity = CATEGORIES[category]
        slow = index % 10 == 9  # intermittent slow movers
        result.append(
            {
                "item_id": f"item_{index:03d}",
                "category": category,
                "brand": BRANDS[rng.integers(len(BRANDS))],
                "level": (0.6 if slow else rng.lognormal(0, 0.5)) * (0.05 if slow else 1) * level,
                "elasticity": elasticity,
                "base_price": round(float(rng.uniform(1.5, 12.0)), 2),
                "trend": float(rng.normal(0.0004, 0.0006)),
            }
        )
    return result


def generate(out: Path = OUT, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    catalog = items(rng)
    out.mkdir(parents=True, exist_ok=True)
    days = [START + timedelta(days=offset) for offset in range(DAYS + HORIZON)]
    with (
        (out / "target_time_series.csv").open("w", newline="") as target_file,
        (out / "related_time_series.csv").open("w", newline="") as related_file,
    ):
        target, related = csv.writer(target_file), csv.writer(related_file)
        for item in catalog:
            for store_index, location in enumerate(LOCATIONS):
                store_scale = 1.0 if store_index == 0 else 0.7
                for offset, day in enumerate(days):
                    promotion = int(rng.random() < 0.06)
                    discount = 0.8 if promotion else 1.0
                    price = round(
                        item["base_price"] * discount * (1 + 0.02 * np.sin(offset / 60)), 2
                    )
                    related.writerow([item["item_id"], location, day.isoformat(), price, promotion])
                    if offset >= DAYS or rng.random() < 0.004:  # the future; a few missing days
                        continue
                    weekly = 1.0 + 0.35 * (day.weekday() >= 5) - 0.1 * (day.weekday() == 1)
                    yearly = 1.0 + 0.25 * np.cos(2 * np.pi * (day.timetuple().tm_yday - 350) / 365)
                    lift = HOLIDAY_LIFT.get((day.month, day.day), 1.0)
                    elastic = (price / item["base_price"]) ** (-item["elasticity"])
                    mean = (
                        item["level"]
                        * store_scale
                        * weekly
                        * yearly
                        * lift
                        * elastic
                        * (1.0 + item["trend"] * offset)
                        * (1.3 if promotion else 1.0)
                    )
                    dispersion = 5.0
                    demand = rng.negative_binomial(dispersion, dispersion / (dispersion + mean))
                    target.writerow([item["item_id"], location, day.isoformat(), int(demand)])
    with (out / "item_metadata.csv").open("w", newline="") as metadata_file:
        metadata = csv.writer(metadata_file)
        for item in catalog:
            metadata.writerow([item["item_id"], item["category"], item["brand"]])
        for index, category in enumerate(("beverages", "snacks", "frozen")):
            metadata.writerow([f"new_item_{index}", category, BRANDS[index]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    generate(args.out)
    for path in sorted(args.out.glob("*.csv")):
        print(f"{path}: {sum(1 for _ in path.open())} rows")


if __name__ == "__main__":
    main()
