"""How fast does `db.seed` load? Rows per second for a profile, on a throwaway database.

    python benchmarks/bench_seed.py [--profile week] [--runs 1]

Starts a throwaway container of the reference image (tmpfs data, removed after),
upgrades it to head, then seeds it. Prints rows and seconds per run and the rate
(target for `week`: about 1 million candles at >= 200,000 rows/s). Also prints how
long the generator alone takes, so a slow run says whether Python or the server
was the bottleneck. Timings print; no test asserts them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devdb.containers.throwaway import throwaway_database  # noqa: E402
from devdb.images import table as images  # noqa: E402
from devdb.schema import migrations  # noqa: E402
from devdb.seed import load as seed  # noqa: E402
from devdb.seed import market_data  # noqa: E402


def generator_seconds(
    profile: market_data.Profile, seed_value: int
) -> tuple[int, float]:
    market = market_data.Market(seed_value, profile.symbols, profile.ticks_per_minute)
    started = time.perf_counter()
    rows = 0
    for day in market_data.trading_days(profile.days):
        rows += sum(chunk.count("\n") for chunk in market.day_ticks(day))
        rows += sum(len(lines) for lines in market.day_rows().values())
    return rows, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", default="week", choices=sorted(market_data.PROFILES)
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    options = parser.parse_args()
    profile = market_data.PROFILES[options.profile]

    rows, seconds = generator_seconds(profile, options.seed)
    print(
        f"generator alone: {rows:,} rows in {seconds:.2f} s ({rows / seconds:,.0f} rows/s)"
    )
    with throwaway_database(images.reference_image()) as database:
        migrations.upgrade(database.settings, "head")
        for run in range(1, options.runs + 1):
            result = seed.seed_database(
                database.settings, profile=profile.name, seed=options.seed, yes=True
            )
            rate = result.total_rows / result.seconds
            candles = result.rows["candles_1m"]
            print(
                f"run {run}: {result.total_rows:,} rows ({candles:,} candles) in "
                f"{result.seconds:.2f} s = {rate:,.0f} rows/s "
                f"({candles / result.seconds:,.0f} candles/s)"
            )


if __name__ == "__main__":
    main()
