"""The seed generator without a database: deterministic, consistent, in hours."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import pytest

from devdb.errors import DevDbError
from devdb.seed import load as seed
from devdb.seed import market_data
from devdb.settings import Settings


def generate(seed_value: int, symbols: int = 4, days: int = 1) -> dict[str, list[str]]:
    market = market_data.Market(seed_value, symbols, ticks_per_minute=3)
    tables: dict[str, list[str]] = defaultdict(list)
    for day in market_data.trading_days(days):
        for chunk in market.day_ticks(day):
            tables["tick_data"].extend(chunk.splitlines())
        for table, rows in market.day_rows().items():
            tables[table].extend(line.rstrip("\n") for line in rows)
    return tables


def digest(tables: dict[str, list[str]]) -> str:
    return hashlib.md5(repr(sorted(tables.items())).encode()).hexdigest()


def test_same_seed_same_rows_other_seed_other_rows():
    assert digest(generate(7)) == digest(generate(7))
    assert digest(generate(7)) != digest(generate(8))


def test_rows_match_the_seed_columns():
    for table, rows in generate(1).items():
        widths = {len(row.split("\t")) for row in rows}
        assert widths == {len(seed.SEED_COLUMNS[table])}, table


def test_candles_are_the_ticks_of_their_minute():
    tables = generate(3)
    ticks: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
    for row in tables["tick_data"]:
        symbol, stamp, price, volume, side, bid, ask = row.split("\t")
        minute = stamp[:17] + "00+07"
        ticks[(symbol, minute)].append([stamp, price, volume, side, bid, ask])
    assert len(tables["candles_1m"]) == len(ticks)
    for row in tables["candles_1m"]:
        symbol, minute, o, h, low, c, volume, buys, sells = row.split("\t")
        minute_ticks = ticks[(symbol, minute)]
        assert [t[0] for t in minute_ticks] == sorted(t[0] for t in minute_ticks)
        prices = [Decimal(t[1]) for t in minute_ticks]
        assert Decimal(o) == prices[0] and Decimal(c) == prices[-1]
        assert Decimal(h) == max(prices) and Decimal(low) == min(prices)
        assert int(volume) == sum(int(t[2]) for t in minute_ticks)
        assert int(buys) == sum(int(t[2]) for t in minute_ticks if t[3] == "buy")
        assert int(buys) + int(sells) == int(volume)
        for _, price, _, side, bid, ask in minute_ticks:
            # An active buy trades at the ask, an active sell at the bid.
            assert Decimal(ask if side == "buy" else bid) == Decimal(price)
            assert Decimal(bid) < Decimal(ask)


def test_every_row_is_inside_trading_hours_on_weekdays():
    tables = generate(5, days=3)
    for table, rows in tables.items():
        assert rows, table
        stamps = [row.split("\t")[1] for row in rows]
        assert stamps == sorted(stamps) or table == "tick_data", table
        for stamp in stamps:
            moment = datetime.fromisoformat(stamp.replace("+07", "+07:00"))
            assert moment.weekday() < 5
            assert (9, 0) <= (moment.hour, moment.minute) < (15, 0), stamp


def test_tick_rows_are_in_minute_order():
    minutes = [row.split("\t")[1][:16] for row in generate(2)["tick_data"]]
    assert minutes == sorted(minutes)


def test_foreign_flow_nets_and_fits_its_columns():
    for row in generate(4)["foreign_flow"]:
        _, _, buy, sell, net, buy_value, sell_value = row.split("\t")
        assert int(net) == int(buy) - int(sell)
        assert int(buy) % 100 == 0 and int(sell) % 100 == 0
        assert Decimal(buy_value) >= 0 and Decimal(sell_value) >= 0


def test_derivative_basis_is_price_minus_the_vn30():
    tables = generate(6, symbols=40)
    vn30 = {
        row.split("\t")[1]: Decimal(row.split("\t")[2])
        for row in tables["index_snapshots"]
        if row.startswith("VN30\t")
    }
    for row in tables["derivatives"]:
        contract, stamp, price, basis, _ = row.split("\t")
        assert contract == "VN30F2601"
        assert abs(Decimal(price) - vn30[stamp] - Decimal(basis)) <= Decimal("0.01")


def test_week_profile_is_about_a_million_candles():
    week = market_data.PROFILES["week"]
    minutes = (seed.CLOSE_MINUTE - seed.OPEN_MINUTE) * week.days
    assert 950_000 <= week.symbols * minutes <= 1_050_000


def test_money_is_exact():
    assert market_data.money(123456789012345) == "1234567890123.45"
    assert market_data.money(5) == "0.05"
    assert market_data.money(-150) == "-1.50"


def test_unknown_profile_and_no_symbols_are_explained():
    with pytest.raises(DevDbError, match="unknown seed profile"):
        seed.profile_named("month")
    with pytest.raises(DevDbError, match="at least 1"):
        market_data.Market(1, 0, 2)


def test_a_remote_database_is_refused_without_force_before_connecting():
    remote = Settings(host="db.example.com", port=1, exact_target=True)
    with pytest.raises(DevDbError, match="not a local database") as refused:
        seed.seed_database(remote)
    assert "--force" in refused.value.tip
