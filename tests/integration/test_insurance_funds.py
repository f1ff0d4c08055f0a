"""Insurance funds and ADL from the sandbox's routes through the venue clients into the lake, compared with the
simulator's ground-truth ledger (market.insurance) and ADL episodes (market.adl_episodes). On a variant of the
small scenario with thin OKX alt funds, so OKX has ADL to publish. The marts' tests against the same truth are in
test_dbt_marts.py (they share its session warehouse).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipelines.ingest import ingest_days
from pipelines.lake import Lake
from pipelines.lib.timeutil import DAY_MS, day_start_ms
from pipelines.sandbox.scenario import load_scenario
from pipelines.sandbox.server import make_server
from pipelines.venues import binance, bybit, okx
from pipelines.venues.http import VenueError
from tests.integration.insurance_truth import balance_at, truth_connection

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def thin(tmp_path_factory):
    home = tmp_path_factory.mktemp("thin_funds")
    server = make_server(home, scenario=load_scenario(FIXTURES / "scenario_small_thin_funds.yaml")).start()
    yield home, server
    server.stop()


def test_okx_history_pages_back_and_carries_every_adl_episode(thin):
    home, server = thin
    market = server.state.market
    start, end = day_start_ms(date(2025, 10, 9)), day_start_ms(date(2025, 10, 13))
    with okx.make_http(server.base_url("okx")) as http:
        whole = okx.fetch_insurance_funds(http, "SOL", start, end)
        # a page of 3: a day's two entries share a millisecond and a page often ends between them
        paged = okx.fetch_insurance_funds(http, "SOL", start, end, page_limit=3)
        with pytest.raises(VenueError, match="instFamily"):
            http.get_json("/api/v5/public/insurance-fund", {"instType": "SWAP"})
    assert paged.sort_by("ts").to_pylist() == whole.sort_by("ts").to_pylist()
    con = truth_connection(market)
    episodes = con.execute(
        "select epoch_ms(start_ts), epoch_ms(end_ts), max_balance_usd, balance_usd from episodes "
        "where venue = 'okx' and asset = 'SOL' order by start_ts"
    ).fetchall()
    assert episodes, "the thin OKX SOL fund must reach its ADL floor in the crash"
    rows = [r for r in whole.sort_by("ts").to_pylist() if r["entry_type"] == "adl"]
    starts = [r for r in rows if r["adl_type"] == "bal_adl_start"]
    ends = [r for r in rows if r["adl_type"] == "adl_end"]
    assert [int(r["ts"].timestamp() * 1000) for r in starts] == [e[0] for e in episodes]
    assert [int(r["ts"].timestamp() * 1000) for r in ends] == [e[1] for e in episodes if e[1] is not None]
    for row, (_, _, high, balance) in zip(starts, episodes, strict=True):
        assert row["max_balance"] == pytest.approx(high, abs=1e-4)
        assert row["balance"] == pytest.approx(balance, abs=1e-4)
    # the daily entries: fees of the 24 h to 08:00 and the balance then
    deposits = [r for r in whole.to_pylist() if r["entry_type"] == "liquidation_balance_deposit"]
    assert [r["ts"].hour for r in deposits] == [8] * 4
    for row in deposits:
        t = int(row["ts"].timestamp() * 1000)
        assert row["balance"] == pytest.approx(balance_at(con, "okx", "SOL", t), abs=1e-4)
        fees = con.execute(
            "select coalesce(sum(fee_usd), 0) from ledger where venue = 'okx' and asset = 'SOL' "
            "and epoch_ms(ts) > ? and epoch_ms(ts) <= ?",
            [t - DAY_MS, t],
        ).fetchone()[0]
        assert row["amount"] == pytest.approx(fees, abs=1e-4)


def test_snapshot_venues_read_the_balance_at_the_clock(thin):
    home, server = thin
    lake = Lake(home / "lake")
    clock = server.state.market.scenario.clock_ms
    con = truth_connection(server.state.market)
    for module in (binance, bybit):
        with module.make_http(server.base_url(module.VENUE)) as http:
            (result,) = ingest_days(
                module.VENUE,
                module.DATASETS["insurance_funds"],
                [date(2025, 10, 13)],
                http=http,
                lake=lake,
                now_ms=clock,
                assets=("BTC", "DOGE"),
            )
        assert result.rows == 2
        for row in lake.read_partition(module.VENUE, "insurance_funds", date(2025, 10, 13)).to_pylist():
            assert row["currency"] == "USDT" and row["pool"] == f"{row['asset']}USDT"
            assert int(row["ts"].timestamp() * 1000) == clock // 60_000 * 60_000
            assert row["balance"] == pytest.approx(
                balance_at(con, module.VENUE, row["asset"], clock), abs=1e-6
            )
