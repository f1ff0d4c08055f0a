"""Liquidation stream parsers, the sandbox's Binance throttle, landing writes and compaction, on hand-made data.

No recorded websocket messages exist in tests/fixtures: the messages below follow the documented shapes in
shared/VENUES.md (Binance forceOrder, Bybit allLiquidation), field for field.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.lake import Lake, LakeError
from pipelines.recorder.compaction import compact_day, gap_minutes
from pipelines.recorder.landing import EVENTS, GAPS, Landing
from pipelines.recorder.streams import StreamParseError, parse_binance, parse_bybit
from pipelines.sandbox.market import LIQUIDATION_EVENT_SCHEMA
from pipelines.sandbox.streams import build_tape

T0 = 1760130000000  # 2025-10-10T21:00:00Z

BINANCE_MSG = {
    "e": "forceOrder",
    "E": T0 + 1000,
    "o": {
        "s": "BTCUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "0.014", "p": "9910",
        "ap": "9910", "X": "FILLED", "l": "0.014", "z": "0.014", "T": T0 + 568,
    },
}  # fmt: skip
BYBIT_MSG = {
    "topic": "allLiquidation.BTCUSDT",
    "type": "snapshot",
    "ts": T0 + 500,
    "data": [
        {"T": T0 + 120, "s": "BTCUSDT", "S": "Buy", "v": "0.003", "p": "43511.70"},
        {"T": T0 + 410, "s": "BTCUSDT", "S": "Sell", "v": "1.5", "p": "43600"},
    ],
}


def test_binance_force_order_sell_is_a_long_liquidation_with_notional_z_times_ap():
    [row] = parse_binance(json.dumps(BINANCE_MSG))
    assert row["side"] == "long" and row["asset"] == "BTC" and row["source"] == "stream"
    assert row["ts"] == T0 + 568 and row["price"] == 9910.0
    assert row["notional_usd"] == pytest.approx(0.014 * 9910)
    assert row["event_key"] == f"BTCUSDT:{T0 + 568}:SELL:0.014:9910"
    wrapped = parse_binance({"stream": "!forceOrder@arr", "data": BINANCE_MSG})
    assert wrapped == [row]
    buy = json.loads(json.dumps(BINANCE_MSG))
    buy["o"]["S"] = "BUY"
    assert parse_binance(buy)[0]["side"] == "short"


def test_binance_control_replies_and_unconfigured_symbols_give_no_rows():
    assert parse_binance('{"result":null,"id":1}') == []
    other = json.loads(json.dumps(BINANCE_MSG))
    other["o"]["s"] = "PEPEUSDT"
    assert parse_binance(other) == []


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda m: m["o"].pop("ap"), "ap"),
        (
            lambda m: m["o"].pop("q"),
            "'q'",
        ),  # used only in the event key: once a KeyError that ended the stream
        (lambda m: m["o"].update(T="1760130000568"), "T"),
        (lambda m: m["o"].update(S="SIDEWAYS"), "SELL or BUY"),
        (lambda m: m["o"].update(z="abc"), "not a number"),
    ],
)
def test_binance_malformed_messages_raise(mutate, match):
    msg = json.loads(json.dumps(BINANCE_MSG))
    mutate(msg)
    with pytest.raises(StreamParseError, match=match):
        parse_binance(msg)
    with pytest.raises(StreamParseError, match="not JSON"):
        parse_binance("<html>")


@pytest.mark.parametrize(
    "parse, message",
    [
        (parse_binance, "[1, 2]"),
        (parse_binance, [1, 2]),
        (parse_binance, '{"stream": "!forceOrder@arr", "data": [1]}'),
        (parse_bybit, "[]"),
        (parse_bybit, '{"topic": "allLiquidation.BTCUSDT", "ts": 1, "data": [["BTCUSDT", "Buy"]]}'),
    ],
)
def test_a_list_where_an_object_belongs_is_a_parse_error_not_a_type_error(parse, message):
    with pytest.raises(StreamParseError):
        parse(message)


def test_bybit_batch_buy_is_a_long_liquidation_with_notional_v_times_p():
    rows = parse_bybit(json.dumps(BYBIT_MSG))
    assert [r["side"] for r in rows] == ["long", "short"]
    assert rows[0]["notional_usd"] == pytest.approx(0.003 * 43511.70)
    assert rows[1]["qty_coin"] == 1.5 and rows[1]["price"] == 43600.0
    assert rows[0]["event_key"] == f"BTCUSDT:{T0 + 120}:Buy:0.003:43511.70"
    assert parse_bybit('{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}') == []
    assert parse_bybit({"success": True, "ret_msg": "subscribe", "conn_id": "x", "op": "subscribe"}) == []
    bad = json.loads(json.dumps(BYBIT_MSG))
    bad["data"][0]["S"] = "buy"
    with pytest.raises(StreamParseError, match="Buy or Sell"):
        parse_bybit(bad)


def _events(rows):
    cols = {name: [r[i] for r in rows] for i, name in enumerate(LIQUIDATION_EVENT_SCHEMA.names)}
    cols["ts"] = [datetime.fromtimestamp(ms / 1000, UTC) for ms in cols["ts"]]
    return pa.table(cols, schema=LIQUIDATION_EVENT_SCHEMA)


def test_sandbox_binance_tape_keeps_only_the_latest_per_symbol_and_second():
    events = _events(
        [
            ("binance", "BTC", T0 + 100, "long", 100.0, 1.0, 100.0, 1),
            ("binance", "BTC", T0 + 900, "long", 99.0, 2.0, 198.0, 2),  # same second: wins
            ("binance", "ETH", T0 + 950, "short", 10.0, 1.0, 10.0, 3),  # other symbol: kept
            ("binance", "BTC", T0 + 1000, "long", 98.0, 1.0, 98.0, 4),  # next second
            ("bybit", "BTC", T0 + 100, "long", 100.0, 1.0, 100.0, 1),
            ("bybit", "BTC", T0 + 400, "long", 100.0, 1.0, 100.0, 2),
        ]
    )
    binance = build_tape(events, "binance")
    assert [(p.symbol, p.push_ms, [r["event_id"] for r in p.rows]) for p in binance.pushes] == [
        ("BTCUSDT", T0 + 1000, [2]),
        ("ETHUSDT", T0 + 1000, [3]),
        ("BTCUSDT", T0 + 2000, [4]),
    ]
    bybit = build_tape(events, "bybit")
    assert [(p.push_ms, [r["event_id"] for r in p.rows]) for p in bybit.pushes] == [(T0 + 500, [1, 2])]


def test_landing_rejects_bad_rows_before_writing(tmp_path):
    landing = Landing(tmp_path / "landing")
    row = parse_binance(BINANCE_MSG)[0] | {"side": None}
    with pytest.raises(LakeError, match="side"):
        landing.write("binance", EVENTS, "rec", 0, [row])
    assert landing.files("binance", EVENTS) == []


def test_compaction_dedupes_sorts_and_is_repeatable(tmp_path):
    landing, lake = Landing(tmp_path / "landing"), Lake(tmp_path / "lake")
    rows = parse_bybit(BYBIT_MSG)
    landing.write("bybit", EVENTS, "rec-a", 0, [rows[1], rows[0]], coverage=(T0, T0 + 500))
    landing.write("bybit", EVENTS, "rec-a", 1, rows, coverage=(T0 + 500, T0 + 900))  # a re-sent batch
    gap = {"venue": "bybit", "stream": "allLiquidation", "gap_start": T0 + 600_000, "gap_end": T0 + 900_000,
           "reason": "test", "recorder_id": "rec-a"}  # fmt: skip
    landing.write("bybit", GAPS, "rec-a", 1, [gap])
    day = date(2025, 10, 10)
    result = compact_day(lake, landing, "bybit", day)
    assert (result.rows, result.duplicates_dropped, result.gaps, result.status) == (2, 2, 1, "ok")
    path = lake.partition_path("bybit", EVENTS, day)
    first = pq.read_table(path)
    assert first["event_key"].to_pylist() == [rows[0]["event_key"], rows[1]["event_key"]]
    compact_day(lake, landing, "bybit", day)
    assert pq.read_table(path).equals(first)
    assert compact_day(lake, landing, "bybit", date(2025, 10, 11)).status == "not_recorded"


def test_gap_minutes_counts_overlaps_once_and_clips_to_the_day():
    day = date(2025, 10, 10)
    schema = pa.schema(
        [("gap_start", pa.timestamp("ms", tz="UTC")), ("gap_end", pa.timestamp("ms", tz="UTC"))]
    )

    def ts(ms):
        return datetime.fromtimestamp(ms / 1000, UTC)

    gaps = pa.Table.from_pylist(
        [
            {"gap_start": ts(T0), "gap_end": ts(T0 + 10 * 60_000)},
            {"gap_start": ts(T0 + 5 * 60_000), "gap_end": ts(T0 + 15 * 60_000)},
            {"gap_start": ts(T0 + 2 * 3_600_000 + 30 * 60_000), "gap_end": None},  # open: to the day's end
        ],
        schema=schema,
    )
    assert gap_minutes(gaps, day) == pytest.approx(15 + 30)
