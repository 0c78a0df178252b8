"""Deterministic synthetic market data for the five seed tables, loaded with COPY.

Everything comes from one ``random.Random(seed)`` and a fixed calendar (no wall
clock), so the same profile, seed and symbol count give the same rows on every
machine: ``invoke db.reset --seed --yes`` twice gives equal per-table checksums.

The market: N symbols trade on weekdays 09:00-15:00 at the exchange (UTC+7, the
Ho Chi Minh City exchange; a fixed offset, as Vietnam has no daylight saving time,
so no tz database is needed). Prices follow geometric Brownian motion tick by
tick; each minute of each symbol has at least one tick, and its candle is computed
from exactly those ticks (open, high, low, close, volume, active buy/sell volume:
a tick on an uptick is a buyer lifting the ask, on a downtick a seller hitting the
bid). Foreign flow is a share of each symbol's volume per five minutes, the two
indexes are equal-weighted over the symbols' prices, and the front-month VN30
future trades at the VN30 index plus a mean-reverting basis.

Rows are generated minute by minute (time order) and streamed into
``COPY ... FROM STDIN`` in chunks of about a megabyte, all in one transaction:
the ticks as they are generated, then the candles (spooled as each minute's are
known), then the three small tables.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from devdb.console import note
from devdb.database import connect, quote_identifier
from devdb.errors import DevDbError
from devdb.safety import confirm_destructive, refuse_non_local
from devdb.seed.copy_load import (
    CHUNK_BYTES,
    ChunkReader,
    copy_rows,
    indexes_set_aside,
)

if TYPE_CHECKING:
    from devdb.settings import Settings

from devdb.seed.market_data import (
    CLOSE_MINUTE,
    OPEN_MINUTE,
    SEED_COLUMNS,
    SEED_TABLES,
    Market,
    SeedResult,
    profile_named,
    trading_days,
)

BULK_CANDLES = 100_000  # from here on, indexes are rebuilt after the load


def tables_holding_rows(cursor: Any) -> list[str]:
    """The seed tables that hold at least one row (one row read from each)."""
    filled = []
    for table in SEED_TABLES:
        cursor.execute(f"SELECT EXISTS (SELECT FROM {quote_identifier(table)})")
        if cursor.fetchone()[0]:
            filled.append(table)
    return filled


def check_tables(cursor: Any) -> dict[str, tuple[str, ...]]:
    """The COPY column list of each seed table, checked against the database."""
    cursor.execute(
        "SELECT table_name, column_name, is_nullable = 'YES', column_default,"
        "       is_identity = 'YES' OR is_generated = 'ALWAYS'"
        "  FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ANY(%s)",
        (list(SEED_TABLES),),
    )
    # table -> column -> whether the database can fill it without the seed
    found: dict[str, dict[str, bool]] = {}
    for table, column, nullable, default, automatic in cursor.fetchall():
        found.setdefault(table, {})[column] = bool(
            nullable or default is not None or automatic
        )
    missing_tables = [table for table in SEED_TABLES if table not in found]
    if missing_tables:
        raise DevDbError(
            f"the database has no table {', '.join(missing_tables)}: it is not at "
            "the head revision",
            "upgrade it first: `invoke db.upgrade` (or `invoke db.reset --seed --yes` "
            "to start afresh)",
        )
    for table, wanted in SEED_COLUMNS.items():
        columns = found[table]
        gone = [column for column in wanted if column not in columns]
        if gone:
            raise DevDbError(
                f"{table} has no column {', '.join(gone)}; the seed generator "
                "writes it (a revision renamed or dropped it?)",
                f"teach devdb/seed/load.py the new shape of {table} (SEED_COLUMNS and "
                "its row format)",
            )
        unfillable = sorted(
            column
            for column, optional in columns.items()
            if column not in wanted and not optional
        )
        if unfillable:
            raise DevDbError(
                f"{table} has NOT NULL column(s) without a default that the seed "
                f"does not know: {', '.join(unfillable)}",
                f"give them a default in the revision, or teach devdb/seed/load.py to "
                f"fill them ({table})",
            )
    return dict(SEED_COLUMNS)


def seed_database(
    settings: Settings,
    *,
    profile: str = "smoke",
    seed: int = 42,
    symbols: int | None = None,
    yes: bool = False,
    force: bool = False,
) -> SeedResult:
    """Replace every row of the five seed tables with the profile's market data.

    Tables that already hold rows are emptied only after a yes (``yes``, or an
    answer on the terminal): they may be data the developer loaded by hand.

    All or nothing: one session, one transaction, from the TRUNCATE to the last
    table, so a seed that fails (or is interrupted) leaves every table as it was,
    never some seeded and others empty. The candles are known minute by minute
    while the ticks stream; they wait in a spool file (memory stays flat) and
    follow the ticks' COPY.
    """
    chosen = profile_named(profile)
    count = chosen.symbols if symbols is None else symbols
    action = f"replace every row of {', '.join(SEED_TABLES)}"
    # Decided before connecting: a shared database is never reached without --force.
    refuse_non_local(settings, action, force=force)
    market = Market(seed, count, chosen.ticks_per_minute)
    # Measured here: smoke (1,800 candles) seeds in half the time without setting
    # the indexes aside, week (a million) in less than half the time with it.
    bulk = count * chosen.days * (CLOSE_MINUTE - OPEN_MINUTE) >= BULK_CANDLES
    result = SeedResult(chosen.name, seed, count, dict.fromkeys(SEED_TABLES, 0))
    started = time.perf_counter()
    with connect(settings) as session:
        raw = session.connection.driver_connection
        assert raw is not None, "a fresh connection"
        with raw.cursor() as cursor, tempfile.TemporaryFile("w+") as candles:
            columns = check_tables(cursor)
            filled = tables_holding_rows(cursor)
            if filled:
                confirm_destructive(
                    settings,
                    f"{action} (now holding rows: {', '.join(filled)})",
                    yes=yes,
                    force=force,
                )
            # Losing the last seed in a crash costs nothing; waiting for the WAL
            # flush at commit costs time.
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(
                "TRUNCATE " + ", ".join(quote_identifier(t) for t in SEED_TABLES)
            )
            others: dict[str, list[str]] = {
                table: []
                for table in SEED_TABLES
                if table not in ("tick_data", "candles_1m")
            }
            market.candle_sink = candles.write
            with indexes_set_aside(cursor, "tick_data", bulk=bulk):
                result.rows["tick_data"] = copy_rows(
                    cursor,
                    "tick_data",
                    columns["tick_data"],
                    ChunkReader(_all_ticks(market, chosen.days, others)),
                )
            candles.seek(0)
            with indexes_set_aside(cursor, "candles_1m", bulk=bulk):
                result.rows["candles_1m"] = copy_rows(
                    cursor,
                    "candles_1m",
                    columns["candles_1m"],
                    ChunkReader(iter(lambda: candles.read(CHUNK_BYTES), "")),
                )
            for table, rows in others.items():
                with indexes_set_aside(cursor, table, bulk=bulk):
                    result.rows[table] = copy_rows(
                        cursor, table, columns[table], ChunkReader(rows)
                    )
        raw.commit()
    result.seconds = time.perf_counter() - started
    return result


def _all_ticks(
    market: Market, days: int, others: dict[str, list[str]]
) -> Iterator[str]:
    """Every day's ticks in order; the other small tables' rows saved on the way."""
    for day in trading_days(days):
        yield from market.day_ticks(day)
        for table, rows in market.day_rows().items():
            if table in others:
                others[table].extend(rows)


def table_checksums(settings: Settings) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every seed table's rows, in a stable order."""
    sums: dict[str, tuple[int, str]] = {}
    with connect(settings) as connection:
        for table in SEED_TABLES:
            name = quote_identifier(table)
            row = connection.exec_driver_sql(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, ',' "
                f"ORDER BY t::text)), '') FROM {name} AS t"
            ).one()
            sums[table] = (int(row[0]), str(row[1]))
        connection.rollback()
    return sums


def report(result: SeedResult) -> None:
    """One line per table, then the rate: what people read after a seed."""
    for table, rows in result.rows.items():
        note(f"  {table:<16} {rows:>10,} rows")
    rate = result.total_rows / result.seconds if result.seconds else 0.0
    note(
        f"Seeded profile '{result.profile}' (seed {result.seed}, {result.symbols} "
        f"symbols): {result.total_rows:,} rows in {result.seconds:.2f} s "
        f"({rate:,.0f} rows/s)"
    )
