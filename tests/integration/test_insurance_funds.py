"""Insurance funds and ADL through the real path: sandbox routes -> venue clients -> lake -> dbt marts, compared with
the simulator's ground-truth ledger (market.insurance) and ADL episodes (market.adl_episodes), computed by the
simulator independently of the clients and the SQL.

The marts come from the session warehouse of test_dbt_marts.py (`builds`: OKX's history fetched for 9-11 Oct,
Binance's and Bybit's snapshots taken by the deployment replay's jobs at 23:00). The OKX paging and ADL entries
are checked on a variant of the small scenario with thin OKX alt funds, so OKX has ADL to publish.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import ingest_days
from pipelines.instruments import ASSETS
from pipelines.lake import Lake
from pipelines.lib.timeutil import DAY_MS, day_start_ms
from pipelines.sandbox.scenario import load_scenario
from pipelines.sandbox.server import make_server
from pipelines.venues import binance, bybit, okx
from pipelines.venues.http import VenueError
from tests.integration.test_dbt_marts import (  # noqa: F401 (builds, dbt_home: fixtures)
    CRASH_DAY,
    LAKE_ASSETS,
    LAKE_DAYS,
    builds,
    dbt_home,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SNAPSHOT_HOUR_MS = 23 * 3_600_000  # insurance_snapshot_jobs: daily at 23:00
OKX_ENTRY_MS = 8 * 3_600_000  # OKX books its daily entries at 08:00


def truth_connection(market) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.register("ledger", market.insurance)
    con.register("episodes", market.adl_episodes)
    return con


def balance_at(con, venue: str, asset: str, t_ms: int) -> float:
    """The ledger's balance after its last entry at or before t."""
    return con.execute(
        "select arg_max(balance_usd, ts) from ledger where venue = ? and asset = ? and epoch_ms(ts) <= ?",
        [venue, asset, t_ms],
    ).fetchone()[0]


def reading_times(con, venue: str, asset: str, day: date) -> list[int]:
    """When the pipeline read the fund that day: snapshots at 23:00; OKX's 08:00 entry and its ADL entries."""
    start = day_start_ms(day)
    if venue != "okx":
        return [start + SNAPSHOT_HOUR_MS]
    adl = con.execute(
        "select epoch_ms(start_ts), epoch_ms(end_ts) from episodes where venue = ? and asset = ?",
        [venue, asset],
    ).fetchall()
    times = [start + OKX_ENTRY_MS] + [t for pair in adl for t in pair if t is not None]
    return [t for t in times if start <= t < start + DAY_MS]


def expected_daily(con, venue: str, assets: list[str]) -> dict[date, float]:
    """Per day, the sum over the venue's funds of the balance at the fund's last reading of the day."""
    return {
        day: sum(balance_at(con, venue, a, max(reading_times(con, venue, a, day))) for a in assets)
        for day in LAKE_DAYS
    }


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx"])
def test_insurance_funds_daily_reproduces_the_ground_truth(builds, sandbox, venue):  # noqa: F811
    market = sandbox.state.market
    con = truth_connection(market)
    # OKX's history is fetched for LAKE_ASSETS; the snapshot replay asks about every configured asset
    assets = LAKE_ASSETS if venue == "okx" else ASSETS
    expected = expected_daily(con, venue, list(assets))
    with duckdb.connect(str(builds.db), read_only=True) as wh:
        got = {
            row[0]: row[1:]
            for row in wh.execute(
                "select date, balance_usd, change_usd, high_30d_usd, drawdown_from_30d_high_pct, pool_count "
                "from marts.insurance_funds_daily where venue = ? and currency = 'USDT' order by date",
                [venue],
            ).fetchall()
        }
    assert sorted(got) == list(LAKE_DAYS)
    high = 0.0
    for i, day in enumerate(LAKE_DAYS):
        balance, change, high_30d, drawdown, pools = got[day]
        high = max(high, expected[day])
        assert pools == len(assets)
        # the routes print balances to 4 (OKX) or 8 decimals: a cent per fund at most
        assert balance == pytest.approx(expected[day], abs=0.05)
        assert high_30d == pytest.approx(high, abs=0.05)
        assert drawdown == pytest.approx(100 * (high - expected[day]) / high, abs=1e-6)
        if i:
            assert change == pytest.approx(expected[day] - expected[LAKE_DAYS[i - 1]], abs=0.1)
    # the crash costs every venue's funds something by the day's (or, for OKX's 08:00 entries, the next day's) close
    crash_loss = con.execute(
        "select sum(loss_paid_usd) from ledger where venue = ? and cast(ts as date) = ?", [venue, CRASH_DAY]
    ).fetchone()[0]
    assert crash_loss > 0
    print(
        f"{venue}: crash-day losses paid ${crash_loss / 1e6:.2f}M; daily drawdowns "
        + ", ".join(f"{d}: {got[d][3]:.3f}%" for d in LAKE_DAYS)
    )


def test_adl_events_hold_exactly_what_the_venues_publish(builds, sandbox):  # noqa: F811
    """OKX publishes its ADL entries; the small scenario's OKX funds never reach their floor, Bybit's alt funds do,
    and Bybit publishes no ADL feed: the mart holds exactly OKX's episodes (none here)."""
    con = truth_connection(sandbox.state.market)
    okx_truth = con.execute("select count(*) from episodes where venue = 'okx'").fetchone()[0]
    bybit_truth = con.execute(
        "select count(*) from episodes where venue = 'bybit' and cast(start_ts as date) = ?", [CRASH_DAY]
    ).fetchone()[0]
    with duckdb.connect(str(builds.db), read_only=True) as wh:
        rows = wh.execute("select venue, source from marts.adl_events").fetchall()
    assert okx_truth == 0 and bybit_truth > 0
    assert rows == []


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
