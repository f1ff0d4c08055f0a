"""reports/daily_risk materialized by Dagster over a two-day range on a published hand-made warehouse: one page per
day, the index, and metadata that links the file and carries the headline."""

from __future__ import annotations

import duckdb
from dagster import AssetKey, DagsterInstance, materialize

from pipelines.defs.reports.assets import daily_risk
from pipelines.orchestration.resources import VenueGateway
from pipelines.warehouse import published_path
from tests.unit.test_report_page import MAIN_MARTS


def test_a_ranged_run_writes_a_page_per_day_and_links_the_last(tmp_path):
    with duckdb.connect(str(published_path(tmp_path))) as con:
        con.execute(MAIN_MARTS)
    tags = {
        "dagster/asset_partition_range_start": "2025-10-09",
        "dagster/asset_partition_range_end": "2025-10-10",
    }
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [daily_risk],
            resources={"venue_gateway": VenueGateway(home=str(tmp_path))},
            instance=instance,
            tags=tags,
        )
    assert result.success
    reports = tmp_path / "reports"
    assert sorted(p.name for p in reports.iterdir()) == ["2025-10-09.html", "2025-10-10.html", "index.html"]
    materializations = result.asset_materializations_for_node("reports__daily_risk")
    assert sorted(m.partition for m in materializations) == ["2025-10-09", "2025-10-10"]  # one per partition
    materialization = materializations[-1]
    assert materialization.asset_key == AssetKey(["reports", "daily_risk"])
    metadata = materialization.metadata
    assert metadata["path"].value == str(reports / "2025-10-10.html")
    assert metadata["url"].value == (reports / "2025-10-10.html").resolve().as_uri()
    assert metadata["pages"].value == 2
    summary = metadata["summary"].value
    assert "**2025-10-10**" in summary
    assert "| longs liquidated | US$3.0bn |" in summary  # 2.0bn Binance + 1.0bn OKX on the day
    assert "| open-interest change | -US$10.0bn (-22.2%) |" in summary
