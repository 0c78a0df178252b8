"""Deterministic synthetic market data: the rows `db.seed` loads, generated in time order.

Everything comes from one ``random.Random(seed)`` and a fixed calendar (no wall
clock), so the same profile, seed and symbol count give the same rows on every
machine. See devdb.seed.load for the market it models and how the rows are loaded.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import NormalDist
from typing import TYPE_CHECKING

from devdb.errors import DevDbError

if TYPE_CHECKING:
    pass


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
        self.candle_sink: Callable[[str], object] | None = None
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
