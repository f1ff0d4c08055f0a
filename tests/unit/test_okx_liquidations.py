"""OKX liquidation orders: the parser on a hand-made payload (no recording exists), paging edges on a fake venue,
contracts -> coins, and what "in the last day" means for which partitions can be fetched."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from pipelines.ingest import partition_status
from pipelines.lib.numbers import PayloadError
from pipelines.lib.timeutil import HOUR_MS, day_start_ms
from pipelines.venues import okx

FIXTURE = Path(__file__).parents[1] / "fixtures" / "okx" / "liquidation_orders.json"
CT_VAL = Decimal("0.01")


def payload() -> dict:
    return json.loads(FIXTURE.read_text())


def test_parser_maps_sides_contracts_and_identity():
    rows = okx.parse_liquidations(payload(), "BTC", CT_VAL)
    assert [r["side"] for r in rows] == ["long", "short", "long"]  # posSide, and "net" + sell closes a long
    assert [r["qty_coin"] for r in rows] == [12.5, 0.035, 0.4]  # sz contracts x ctVal 0.01
    assert rows[0]["notional_usd"] == pytest.approx(12.5 * 108250.3)
    assert rows[0]["price"] == 108250.3 and rows[0]["ts"] == 1760119213114
    assert {r["source"] for r in rows} == {"rest"} and {r["symbol"] for r in rows} == {"BTC-USDT-SWAP"}
    assert rows[0]["event_key"] == "BTC-USDT|1760119213114|long|108250.3|1250"
    assert len({r["event_key"] for r in rows}) == 3
    raw = json.loads(rows[1]["raw"])
    assert raw["instFamily"] == "BTC-USDT" and raw["sz"] == "3.5" and raw["posSide"] == "short"


def test_parser_ignores_other_families_and_rejects_bad_records():
    other = payload()
    other["data"][0]["instFamily"] = other["data"][0]["uly"] = "ETH-USDT"
    assert okx.parse_liquidations(other, "BTC", CT_VAL) == []
    no_side = payload()
    no_side["data"][0]["details"][0]["posSide"] = "sideways"
    with pytest.raises(PayloadError, match="liquidated side"):
        okx.parse_liquidations(no_side, "BTC", CT_VAL)
    no_family = payload()
    del no_family["data"][0]["instFamily"], no_family["data"][0]["uly"]
    with pytest.raises(PayloadError, match="instrument family"):
        okx.parse_liquidations(no_family, "BTC", CT_VAL)
    with pytest.raises(PayloadError, match="51001"):
        okx.parse_liquidations({"code": "51001", "msg": "x", "data": []}, "BTC", CT_VAL)


def test_missing_size_stays_missing_not_zero():
    blank = payload()
    blank["data"][0]["details"][0]["sz"] = ""
    row = okx.parse_liquidations(blank, "BTC", CT_VAL)[0]
    assert row["qty_coin"] is None and row["notional_usd"] is None


# -- paging on a fake venue: exact edges without the sandbox ----------------------------------------------------


def fake_venue(details: list[dict], ct_val: str = "0.01"):
    """Serves `details` newest first with OKX's `after` semantics (strictly older), ties in a fixed order."""
    ordered = sorted(details, key=lambda d: (-int(d["ts"]), d["sz"]))
    asked: list[dict] = []

    def handle(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        asked.append(params)
        if request.url.path.endswith("/instruments"):
            return httpx.Response(
                200, json={"code": "0", "msg": "", "data": [{"instId": params["instId"], "ctVal": ct_val}]}
            )
        after = int(params["after"])
        page = [d for d in ordered if int(d["ts"]) < after][: int(params["limit"])]
        data = (
            [{"instFamily": "BTC-USDT", "instType": "SWAP", "uly": "BTC-USDT", "details": page}]
            if page
            else []
        )
        return httpx.Response(200, json={"code": "0", "msg": "", "data": data})

    http = okx.make_http("http://okx.test", transport=httpx.MockTransport(handle), sleep=lambda s: None)
    return http, asked


def detail(ts: int, sz: str, pos_side: str = "long") -> dict:
    return {
        "bkLoss": "0",
        "bkPx": "100",
        "ccy": "",
        "posSide": pos_side,
        "side": "sell",
        "sz": sz,
        "ts": str(ts),
    }


def test_a_millisecond_split_across_pages_is_fetched_whole_once():
    # two liquidations share t=5000; with 3 per page the first page ends between them
    details = [detail(6000, "1"), detail(6000, "2")] + [detail(5000, str(10 + i)) for i in range(2)]
    details += [detail(4000, "20"), detail(3000, "21")]
    http, asked = fake_venue(details)
    table = okx.fetch_liquidations(http, "BTC", 3000, 6001, page_limit=3)
    assert sorted(table["event_key"].to_pylist()) == sorted(
        okx.liquidation_event_key("BTC-USDT", d) for d in details
    )
    assert table.num_rows == len(details)
    assert sum(table["qty_coin"].to_pylist()) == pytest.approx(sum(float(d["sz"]) for d in details) * 0.01)
    assert asked[1]["after"] == "6001" and asked[2]["after"] == "5001"  # the shared ms is asked again


def test_window_is_start_inclusive_end_exclusive_and_stops_once_past_start():
    details = [detail(t, str(t)) for t in range(1000, 11000, 1000)]
    http, asked = fake_venue(details)
    table = okx.fetch_liquidations(http, "BTC", 3000, 7000, page_limit=2)
    assert sorted(table["ts"].cast("int64").to_pylist()) == [3000, 4000, 5000, 6000]
    assert int(asked[-1]["after"]) > 1000  # never walked to the oldest row


def test_a_full_page_within_one_millisecond_is_a_clear_error():
    http, _ = fake_venue([detail(5000, str(i)) for i in range(4)])
    with pytest.raises(PayloadError, match="all at 5000 ms"):
        okx.fetch_liquidations(http, "BTC", 0, 6000, page_limit=3)


def test_contract_value_comes_from_the_instruments_endpoint():
    http, _ = fake_venue([detail(5000, "7")], ct_val="0.1")
    table = okx.fetch_liquidations(http, "ETH", 0, 6000)
    assert table.num_rows == 0  # the fake venue's family is BTC-USDT: nothing for ETH
    http, _ = fake_venue([detail(5000, "7")], ct_val="0.1")
    assert okx.fetch_liquidations(http, "BTC", 0, 6000)["qty_coin"].to_pylist() == [pytest.approx(0.7)]


def test_retention_lets_today_and_yesterday_through_only():
    spec = okx.DATASETS["liquidations"]
    now = day_start_ms(date(2025, 10, 13)) + HOUR_MS // 2  # 00:30 UTC
    assert partition_status(spec, date(2025, 10, 13), now) == "ok"
    assert partition_status(spec, date(2025, 10, 12), now) == "ok"  # served from 2025-10-12 00:30 on
    assert partition_status(spec, date(2025, 10, 11), now) == "beyond_retention"
    assert partition_status(spec, date(2025, 10, 14), now) == "future"
