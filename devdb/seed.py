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
``COPY ... FROM STDIN`` in chunks of about a megabyte: the ticks on one session,
the candles (as each minute's are known) on a second one at the same time.
"""

from __future__ import annotations

import contextlib
import math
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from devdb.console import note
from devdb.database import connect, quote_identifier
from devdb.errors import DevDbError
from devdb.safety import confirm_destructive

if TYPE_CHECKING:
    from devdb.settings import Settings


@dataclass(frozen=True)
class Profile:
    name: str
    days: int
    symbols: int
    ticks_per_minute: int  # the mean; every symbol trades at least once a minute
    description: str


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("smoke", 1, 5, 4, "one day, 5 symbols: loads in well under a second"),
        # 556 symbols x 1,800 trading minutes = 1,000,800 candles.
        Profile("week", 5, 556, 2, "five days, 556 symbols: about 1 million candles"),
    )
}

# The columns each seed table is written with, in the order the generator writes
# them. The database must have them all; any other column must be nullable or
# have a default (checked against information_schema before anything is loaded).
SEED_COLUMNS: dict[str, tuple[str, ...]] = {
    "tick_data": ("symbol", "timestamp", "price", "volume", "side", "bid", "ask"),
    "candles_1m": (
        "symbol",
        "timestamp",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "active_buy_vol",
        "active_sell_vol",
    ),
    "foreign_flow": (
        "symbol",
        "timestamp",
        "buy_vol",
        "sell_vol",
        "net_vol",
        "buy_value",
        "sell_value",
    ),
    "index_snapshots": ("index_name", "timestamp", "value", "change_pct", "volume"),
    "derivatives": ("contract", "timestamp", "price", "basis", "open_interest"),
}
SEED_TABLES = tuple(SEED_COLUMNS)

FIRST_DAY = date(2026, 1, 5)  # a Monday; fixed so no run depends on today
OPEN_MINUTE, CLOSE_MINUTE = 9 * 60, 15 * 60
UTC_OFFSET = "+07"
FOREIGN_WINDOW = 5  # minutes per foreign-flow row
INDEX_BASE = 1000.0
VN30_SIZE = 30
TRADING_MINUTES_PER_YEAR = 252 * (CLOSE_MINUTE - OPEN_MINUTE)
BULK_CANDLES = 100_000  # from here on, indexes are rebuilt after the load
CHUNK_BYTES = 1 << 20  # what COPY gets per read: big enough to keep the server busy


@dataclass
class SeedResult:
    profile: str
    seed: int
    symbols: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def profile_named(name: str) -> Profile:
    if name not in PROFILES:
        raise DevDbError(
            f"unknown seed profile '{name}'",
            f"pick one of: {', '.join(PROFILES)}",
        )
    return PROFILES[name]


def trading_days(count: int) -> list[date]:
    """The first ``count`` weekdays from FIRST_DAY."""
    days: list[date] = []
    day = FIRST_DAY
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def symbol_names(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct three-letter tickers (four letters past 17,576)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    width = 3 if count <= 26**3 else 4
    names: set[str] = set()
    ordered: list[str] = []
    while len(ordered) < count:
        name = "".join(rng.choice(letters) for _ in range(width))
        if name not in names:
            names.add(name)
            ordered.append(name)
    return ordered


def money(cents: int) -> str:
    """Cents as a NUMERIC literal, exactly (no float rounding on big values)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


@dataclass
class _PriceText(dict[int, str]):
    """Cents -> NUMERIC text, formatted once per distinct price (a hot path)."""

    def __missing__(self, cents: int) -> str:
        text = self[cents] = money(cents)
        return text


_PRICE_TEXT = _PriceText()
# "SS.mmm+07" for each millisecond of a minute: formatting them per tick costs more
# than the rest of a tick together.
_SECOND_STAMPS = [
    f"{millis // 1000:02d}.{millis % 1000:03d}{UTC_OFFSET}" for millis in range(60_000)
]
# The standard normal by inverse CDF at 4,096 evenly spaced probabilities: one
# table lookup per step instead of random.gauss, tails cut near 3.5 sigma (plenty
# for synthetic prices).
NORMALS = [NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096)]
# Lot sizes, skewed small: many 100-share trades, a few of several thousand.
VOLUMES = [(1 + int((i / 64) ** 3 * 50)) * 100 for i in range(64)]


@dataclass
class _Symbol:
    name: str
    log_price: float
    first_cents: int
    drift: float  # per minute, GBM's mu - sigma^2/2 scaled
    sigma: float  # per sqrt(minute)
    foreign_share: float
    last_cents: int = 0
    window_buy: int = 0
    window_sell: int = 0
    window_value: int = 0  # cents x shares


class Market:
    """The generator: call ``day_ticks`` for a day, then read the day's other rows."""

    def __init__(self, seed: int, symbols: int, ticks_per_minute: int) -> None:
        if symbols < 1:
            raise DevDbError(
                f"--symbols must be at least 1, got {symbols}",
                "pass a positive number of symbols",
            )
        self.rng = random.Random(seed)
        self.ticks_per_minute = max(1, ticks_per_minute)
        rng = self.rng
        self.symbols: list[_Symbol] = []
        for name in symbol_names(rng, symbols):
            cents = int(rng.uniform(10.0, 150.0) * 100)
            yearly_sigma = rng.uniform(0.2, 0.6)
            yearly_mu = rng.uniform(-0.1, 0.2)
            self.symbols.append(
                _Symbol(
                    name=name,
                    log_price=math.log(cents),
                    first_cents=cents,
                    drift=(yearly_mu - yearly_sigma**2 / 2) / TRADING_MINUTES_PER_YEAR,
                    sigma=yearly_sigma / math.sqrt(TRADING_MINUTES_PER_YEAR),
                    foreign_share=rng.uniform(0.05, 0.3),
                    last_cents=cents,
                )
            )
        self.vn30 = self.symbols[:VN30_SIZE]
        self.previous_close = {"VNINDEX": INDEX_BASE, "VN30": INDEX_BASE}
        self.basis = 0.0
        self.open_interest = 30_000
        self.candles: list[str] = []
        # When set, each minute's candles go here as soon as they are known
        # (a concurrent COPY), instead of collecting in ``candles``.
        self.candle_sink: Callable[[str], None] | None = None
        self.foreign: list[str] = []
        self.indexes: list[str] = []
        self.futures: list[str] = []

    def day_ticks(self, day: date) -> Iterator[str]:
        """The day's tick rows as COPY text, a minute per item, in time order.

        The day's candles, foreign flow, index snapshots and derivatives are
        collected on the way (they are computed from these very ticks) and are
        complete once the iterator is exhausted.
        """
        getrandbits = self.rng.getrandbits
        exp, sqrt = math.exp, math.sqrt
        prices, stamps = _PRICE_TEXT, _SECOND_STAMPS
        normals, volumes = NORMALS, VOLUMES
        spread_ticks = 2 * self.ticks_per_minute - 1  # uniform 1..2m-1: mean m
        self.candles, self.foreign, self.indexes, self.futures = [], [], [], []
        candles = self.candles
        overnight = sqrt(18 * 60)  # the gap since yesterday's close, in minutes
        for symbol in self.symbols:
            symbol.log_price += symbol.sigma * overnight * self.rng.gauss(0.0, 1.0)
        contract = f"VN30F{day:%y%m}"
        for minute in range(OPEN_MINUTE, CLOSE_MINUTE):
            prefix = f"{day.isoformat()} {minute // 60:02d}:{minute % 60:02d}:"
            stamp = f"{prefix}00{UTC_OFFSET}"
            lines: list[str] = []
            append = lines.append
            minute_start = len(candles)
            ratio_sum = vn30_ratio_sum = 0.0
            minute_volume = vn30_volume = 0
            for position, symbol in enumerate(self.symbols):
                name = symbol.name
                count = 1 + getrandbits(16) * spread_ticks // 65536
                slot = 60_000 // count
                step_drift = symbol.drift / count
                step_sigma = symbol.sigma / sqrt(count)
                log_price = symbol.log_price
                last = symbol.last_cents
                open_cents = high = low = close = 0
                buy_volume = sell_volume = value = 0
                for index in range(count):
                    # One draw per tick, split: 12 bits pick the normal step, 6 the
                    # lot size, 14 the moment within the tick's slot of the minute.
                    bits = getrandbits(32)
                    log_price += step_drift + step_sigma * normals[bits & 4095]
                    cents = round(exp(log_price)) or 1
                    volume = volumes[(bits >> 12) & 63]
                    millis = index * slot + ((bits >> 18) * slot >> 14)
                    spread = cents // 500 or 1  # about 0.2 %
                    if cents > last or (cents == last and bits & 1 << 31):
                        buy_volume += volume
                        append(
                            f"{name}\t{prefix}{stamps[millis]}\t{prices[cents]}"
                            f"\t{volume}\tbuy\t{prices[cents - spread]}"
                            f"\t{prices[cents]}\n"
                        )
                    else:
                        sell_volume += volume
                        append(
                            f"{name}\t{prefix}{stamps[millis]}\t{prices[cents]}"
                            f"\t{volume}\tsell\t{prices[cents]}"
                            f"\t{prices[cents + spread]}\n"
                        )
                    value += cents * volume
                    if index == 0:
                        open_cents = high = low = cents
                    elif cents > high:
                        high = cents
                    elif cents < low:
                        low = cents
                    close = last = cents
                symbol.log_price = log_price
                symbol.last_cents = close
                volume = buy_volume + sell_volume
                candles.append(
                    f"{name}\t{stamp}\t{prices[open_cents]}\t{prices[high]}"
                    f"\t{prices[low]}\t{prices[close]}\t{volume}"
                    f"\t{buy_volume}\t{sell_volume}\n"
                )
                symbol.window_buy += buy_volume
                symbol.window_sell += sell_volume
                symbol.window_value += value
                ratio = close / symbol.first_cents
                ratio_sum += ratio
                minute_volume += volume
                if position < VN30_SIZE:
                    vn30_ratio_sum += ratio
                    vn30_volume += volume
            yield "".join(lines)
            if self.candle_sink is not None:
                self.candle_sink("".join(candles[minute_start:]))
                del candles[minute_start:]
            if (minute - OPEN_MINUTE) % FOREIGN_WINDOW == FOREIGN_WINDOW - 1:
                self._foreign_rows(day, minute - FOREIGN_WINDOW + 1)
            vnindex = INDEX_BASE * ratio_sum / len(self.symbols)
            vn30 = INDEX_BASE * vn30_ratio_sum / len(self.vn30)
            self._index_row("VNINDEX", stamp, vnindex, minute_volume)
            self._index_row("VN30", stamp, vn30, vn30_volume)
            self._future_row(contract, stamp, vn30)
        self.previous_close = {
            "VNINDEX": float(self.indexes[-2].split("\t")[2]),
            "VN30": float(self.indexes[-1].split("\t")[2]),
        }

    def day_rows(self) -> dict[str, list[str]]:
        """The other tables' rows of the day ``day_ticks`` last streamed."""
        return {
            "candles_1m": self.candles,
            "foreign_flow": self.foreign,
            "index_snapshots": self.indexes,
            "derivatives": self.futures,
        }

    def _foreign_rows(self, day: date, window_start: int) -> None:
        rng = self.rng
        stamp = (
            f"{day.isoformat()} {window_start // 60:02d}:{window_start % 60:02d}:00"
            f"{UTC_OFFSET}"
        )
        for symbol in self.symbols:
            traded = symbol.window_buy + symbol.window_sell
            average_cents = symbol.window_value // traded if traded else 0
            share = symbol.foreign_share
            # Foreigners take a share of each side, rounded to whole lots of 100.
            buy = int(symbol.window_buy * share * rng.uniform(0.3, 1.7)) // 100 * 100
            sell = int(symbol.window_sell * share * rng.uniform(0.3, 1.7)) // 100 * 100
            self.foreign.append(
                f"{symbol.name}\t{stamp}\t{buy}\t{sell}\t{buy - sell}"
                f"\t{money(buy * average_cents)}\t{money(sell * average_cents)}\n"
            )
            symbol.window_buy = symbol.window_sell = symbol.window_value = 0

    def _index_row(self, name: str, stamp: str, value: float, volume: int) -> None:
        change = (value / self.previous_close[name] - 1.0) * 100.0
        self.indexes.append(f"{name}\t{stamp}\t{value:.2f}\t{change:.4f}\t{volume}\n")

    def _future_row(self, contract: str, stamp: str, vn30: float) -> None:
        rng = self.rng
        # Mean-reverting basis around zero, a few index points wide.
        self.basis += -0.05 * self.basis + rng.gauss(0.0, 0.3)
        self.open_interest = max(
            1_000, self.open_interest + int(rng.gauss(0.0, 1.0) * 150)
        )
        price = round((vn30 + self.basis) * 10) / 10  # futures tick: 0.1 point
        basis = price - vn30
        self.futures.append(
            f"{contract}\t{stamp}\t{price:.2f}\t{basis:.2f}\t{self.open_interest}\n"
        )


class _ChunkReader:
    """A file for ``copy_expert``: ``read`` hands out about a megabyte at a time."""

    def __init__(self, pieces: Iterator[str] | list[str]) -> None:
        self.pieces = iter(pieces)
        self.rows = 0

    def read(self, size: int = -1) -> bytes:
        buffered: list[str] = []
        length = 0
        for piece in self.pieces:
            buffered.append(piece)
            length += len(piece)
            if length >= CHUNK_BYTES:
                break
        text = "".join(buffered)
        self.rows += text.count("\n")
        return text.encode()

    def readline(self, size: int = -1) -> bytes:
        """Part of the file protocol psycopg2 checks for; COPY only calls read."""
        return self.read(size)


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
                f"teach devdb/seed.py the new shape of {table} (SEED_COLUMNS and "
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
                f"give them a default in the revision, or teach devdb/seed.py to "
                f"fill them ({table})",
            )
    return dict(SEED_COLUMNS)


# A table's indexes and the unique/primary-key constraints behind some of them;
# constraints another table's foreign key points at stay where they are.
INDEXES_OF = """
SELECT 'constraint', c.conname, pg_get_constraintdef(c.oid)
  FROM pg_constraint c
 WHERE c.conrelid = %(table)s::regclass AND c.contype IN ('p', 'u')
   AND NOT EXISTS (SELECT 1 FROM pg_constraint f
                    WHERE f.contype = 'f' AND f.confrelid = c.conrelid)
UNION ALL
SELECT 'index', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
  FROM pg_index i
 WHERE i.indrelid = %(table)s::regclass
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
 ORDER BY 1, 2
"""


@contextlib.contextmanager
def indexes_set_aside(cursor: Any, table: str, *, bulk: bool = True) -> Iterator[None]:
    """Drop the table's indexes for the load and re-create them, same definitions.

    Keeping three B-trees up to date row by row made COPY ten times slower than
    into the bare table (measured here: 15,000 against 157,000 candles/s); one
    sorted build per index afterwards is far cheaper. It all happens in the
    load's transaction, so a failed seed rolls the indexes back with the rows.
    For a small load (``bulk`` False) the DDL costs more than it saves.
    """
    if not bulk:
        yield
        return
    cursor.execute(INDEXES_OF, {"table": quote_identifier(table)})
    found = [(str(k), str(n), str(d)) for k, n, d in cursor.fetchall()]
    name = quote_identifier(table)
    for kind, index, _ in found:
        if kind == "constraint":
            cursor.execute(
                f"ALTER TABLE {name} DROP CONSTRAINT {quote_identifier(index)}"
            )
        else:
            cursor.execute(f"DROP INDEX {index}")  # regclass text: quoted as needed
    yield
    for kind, index, definition in found:
        if kind == "constraint":
            cursor.execute(
                f"ALTER TABLE {name} ADD CONSTRAINT {quote_identifier(index)} "
                f"{definition}"
            )
        else:
            cursor.execute(definition)


def copy_rows(
    cursor: Any,
    table: str,
    columns: tuple[str, ...],
    reader: _ChunkReader | _QueueReader,
) -> int:
    column_list = ", ".join(quote_identifier(column) for column in columns)
    cursor.copy_expert(
        f"COPY {quote_identifier(table)} ({column_list}) FROM STDIN",
        reader,
        size=CHUNK_BYTES,
    )
    return reader.rows


class _QueueReader:
    """A COPY source fed by another thread, a minute's rows at a time."""

    def __init__(self) -> None:
        # Bounded: the producer waits rather than pile up the whole week in memory.
        self.pieces: queue.Queue[str | None] = queue.Queue(maxsize=256)
        self.consumer_failed = threading.Event()
        self.finished = False
        self.rows = 0

    def put(self, piece: str | None) -> None:
        while True:
            try:
                self.pieces.put(piece, timeout=0.5)
                return
            except queue.Full:
                if self.consumer_failed.is_set():
                    raise DevDbError(
                        "the candles' COPY stopped, so the seed stopped",
                        "see the error it reported; `invoke db.seed` starts afresh",
                    ) from None

    def read(self, size: int = -1) -> bytes:
        buffered: list[str] = []
        length = 0
        while not self.finished and length < CHUNK_BYTES:
            piece = self.pieces.get()
            if piece is None:
                self.finished = True
            else:
                buffered.append(piece)
                length += len(piece)
        text = "".join(buffered)
        self.rows += text.count("\n")
        return text.encode()

    def readline(self, size: int = -1) -> bytes:
        """Part of the file protocol psycopg2 checks for; COPY only calls read."""
        return self.read(size)


def seed_database(
    settings: Settings,
    *,
    profile: str = "smoke",
    seed: int = 42,
    symbols: int | None = None,
    force: bool = False,
) -> SeedResult:
    """Replace every row of the five seed tables with the profile's market data.

    Two sessions load at once, ticks on one and everything else on the other, so
    both of this machine's cores work on the server side (index upkeep, not
    Python, is most of the time). The tables are emptied first, in a transaction
    of its own: a seed that fails leaves them empty, never half-seeded.
    """
    chosen = profile_named(profile)
    count = chosen.symbols if symbols is None else symbols
    # Seeding throws away the tables' rows: a local dev database needs no question
    # (it is what db.seed is for), anything else needs --force.
    confirm_destructive(
        settings,
        f"replace every row of {', '.join(SEED_TABLES)}",
        yes=True,
        force=force,
    )
    market = Market(seed, count, chosen.ticks_per_minute)
    # Measured here: smoke (1,800 candles) seeds in half the time without setting
    # the indexes aside, week (a million) in less than half the time with it.
    bulk = count * chosen.days * (CLOSE_MINUTE - OPEN_MINUTE) >= BULK_CANDLES
    result = SeedResult(chosen.name, seed, count, dict.fromkeys(SEED_TABLES, 0))
    started = time.perf_counter()
    with connect(settings) as ticks_session, connect(settings) as other_session:
        ticks_raw = ticks_session.connection.driver_connection
        other_raw = other_session.connection.driver_connection
        assert ticks_raw is not None and other_raw is not None, "fresh connections"
        with ticks_raw.cursor() as ticks_cursor, other_raw.cursor() as other_cursor:
            columns = check_tables(ticks_cursor)
            ticks_cursor.execute(
                "TRUNCATE " + ", ".join(quote_identifier(t) for t in SEED_TABLES)
            )
            ticks_raw.commit()
            # Losing the last seed in a crash costs nothing; waiting for the WAL
            # flush at commit costs time.
            for cursor in (ticks_cursor, other_cursor):
                cursor.execute("SET synchronous_commit = off")
            others: dict[str, list[str]] = {
                table: []
                for table in SEED_TABLES
                if table not in ("tick_data", "candles_1m")
            }
            candles = _QueueReader()
            market.candle_sink = candles.put
            failures: list[BaseException] = []

            def load_candles() -> None:
                try:
                    with indexes_set_aside(other_cursor, "candles_1m", bulk=bulk):
                        copy_rows(
                            other_cursor, "candles_1m", columns["candles_1m"], candles
                        )
                except BaseException as error:  # handed to the main thread below
                    failures.append(error)
                    candles.consumer_failed.set()

            loader = threading.Thread(target=load_candles, name="devdb-seed-candles")
            loader.start()
            try:
                with indexes_set_aside(ticks_cursor, "tick_data", bulk=bulk):
                    result.rows["tick_data"] = copy_rows(
                        ticks_cursor,
                        "tick_data",
                        columns["tick_data"],
                        _ChunkReader(_all_ticks(market, chosen.days, others)),
                    )
            except BaseException:
                if failures:  # the candles failed first: theirs is the real error
                    raise failures[0] from None
                raise
            finally:
                # Ends the candles' COPY whatever happened to the ticks'.
                with contextlib.suppress(DevDbError):
                    candles.put(None)
                loader.join()
            if failures:
                raise failures[0]
            result.rows["candles_1m"] = candles.rows
            for table, rows in others.items():
                with indexes_set_aside(other_cursor, table, bulk=bulk):
                    result.rows[table] = copy_rows(
                        other_cursor, table, columns[table], _ChunkReader(rows)
                    )
        ticks_raw.commit()
        other_raw.commit()
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
