"""The demo summary's risk lines on a hand-made warehouse."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.summaries.risk import collateral_at_risk_lines, risk_lines, systemic_risk_lines


@pytest.fixture()
def con():
    con = duckdb.connect()
    con.execute("create schema marts; create schema intermediate")
    con.execute(
        """
        create table marts.collateral_at_risk as
        select * from (values
            (date '2025-10-09', 'BTC', -10.0, 121000.0, 7.4e9, 0.4e9, 7.8e9, 4),
            (date '2025-10-09', 'BTC', -5.0, 121000.0, 3.4e9, 0.09e9, 3.49e9, 4),
            (date '2025-10-09', 'BTC', -3.0, 121000.0, 2.6e9, 0.03e9, 2.63e9, 4),
            (date '2025-10-09', 'BTC', 5.0, 121000.0, 1.3e9, 0.0, 1.3e9, 4),
            (date '2025-10-09', 'ETH', -10.0, 4300.0, 4.2e9, 1.0e9, 5.2e9, 4),
            (date '2025-10-10', 'BTC', -10.0, 104000.0, 1.0e9, 0.3e9, 1.3e9, 4)
        ) as t(date, asset, shock_pct, reference_price, cefi_liquidatable_usd, defi_liquidatable_usd,
               total_liquidatable_usd, cefi_venues)
        """
    )
    con.execute(
        """
        create table marts.systemic_risk_daily as
        select * from (values
            (date '2025-10-07', null, null, null),
            (date '2025-10-08', 48.0, null, null),
            (date '2025-10-09', 52.0, 'est_leverage_ratio', 'leverage'),
            (date '2025-10-10', 81.5, 'liquidation_imbalance', 'liquidations'),
            (date '2025-10-11', 60.0, 'stablecoin_peg_deviation', 'contagion')
        ) as t(date, risk_index, driver, driver_category)
        """
    )
    con.execute(
        """
        create table intermediate.int_risk_component_scores as
        select * from (values
            (date '2025-10-10', 'liquidation_imbalance', 5.0, 15.0),
            (date '2025-10-10', 'est_leverage_ratio', 1.0, 2.0)
        ) as t(date, component, zscore, contribution)
        """
    )
    yield con
    con.close()


def test_curve_is_a_small_table_of_the_day_and_asset(con):
    lines = collateral_at_risk_lines(con, "2025-10-09", "BTC")
    assert lines[0].startswith("Collateral at risk, BTC on 2025-10-09 (close $121,000, CeFi over 4 venues")
    assert "estimated" in lines[0]
    # -3% is not one of the summary's shocks; ETH and the 10th are other rows
    assert lines[2:] == [
        "   -10.0%      7,400        400      7,800",
        "    -5.0%      3,400         90      3,490",
        "    +5.0%      1,300          0      1,300",
    ]


def test_index_line_names_the_rank_and_the_driver(con):
    # 81.5 is the highest of the 4 indexed days (7 Oct has none): percent_rank 1 -> top 0%
    assert systemic_risk_lines(con, "2025-10-10") == [
        "Systemic-risk index on 2025-10-10: 81.5 / 100 (top 0% of 4 days); driver liquidation_imbalance "
        "(liquidations), z +5.0, +15.0 points."
    ]
    assert "no component above its trailing mean" in systemic_risk_lines(con, "2025-10-08")[0]


def test_missing_days_say_so(con):
    assert risk_lines(con, "2025-09-01", "2025-09-01") == [
        "Collateral at risk, BTC on 2025-09-01: no curve in the warehouse.",
        "Systemic-risk index on 2025-09-01: no row in the warehouse.",
    ]


def test_a_day_without_enough_history_has_no_index_and_no_rank(con):
    assert systemic_risk_lines(con, "2025-10-07") == [
        "Systemic-risk index on 2025-10-07: none yet (too little history to score its components)."
    ]
