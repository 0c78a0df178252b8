"""A backend's tests on databases at head: 200 tests, each with a database of its own.

What a backend's own suite looks like with the toolkit installed: no setup, only
the ``devdb_database`` fixture. Each test writes ticks (psycopg2, ``.url``) and
candles (SQLAlchemy's asyncio engine on asyncpg, ``.async_url``) for a symbol of
its own, then reads both tables back whole: each sees exactly its own rows,
whichever pytest-xdist process runs it and whatever ran there before.

    pytest -n 3 tests/testdb/test_sample_backend.py
"""

from __future__ import annotations

import asyncio
import datetime as dt

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

TESTS = 200
TICKS = 5
CANDLES = 3
OPEN = dt.datetime(2026, 2, 10, 2, 0, tzinfo=dt.UTC)


def write_and_read_ticks(url: str, symbol: str) -> list[tuple]:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO tick_data (symbol, timestamp, price, volume, side)"
            " VALUES (%s, %s, %s, %s, %s)",
            [
                (symbol, OPEN + dt.timedelta(seconds=i), 10 + i, 100, "buy")
                for i in range(TICKS)
            ],
        )
        cursor.execute("SELECT symbol, count(*) FROM tick_data GROUP BY symbol")
        rows = cursor.fetchall()
    connection.close()
    return rows


async def write_and_read_candles(async_url: str, symbol: str) -> list[tuple]:
    engine = create_async_engine(async_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO candles_1m (symbol, timestamp, open, high, low, close)"
                    " VALUES (:symbol, :at, 10, 11, 9, 10.5)"
                ),
                [
                    {"symbol": symbol, "at": OPEN + dt.timedelta(minutes=i)}
                    for i in range(CANDLES)
                ],
            )
        async with engine.connect() as connection:
            result = await connection.execute(
                text("SELECT symbol, count(*) FROM candles_1m GROUP BY symbol")
            )
            return [tuple(row) for row in result]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("number", range(TESTS))
def test_each_test_writes_and_reads_only_its_own_rows(devdb_database, number):
    symbol = f"S{number:03d}"
    assert write_and_read_ticks(devdb_database.url, symbol) == [(symbol, TICKS)]
    candles = asyncio.run(write_and_read_candles(devdb_database.async_url, symbol))
    assert candles == [(symbol, CANDLES)]
