"""The one partitioning every asset shares: UTC days from the first USDT perpetual (configurable)."""

from __future__ import annotations

from dagster import BackfillPolicy, DailyPartitionsDefinition

from pipelines.settings import load_settings

DAILY = DailyPartitionsDefinition(
    start_date=load_settings().partitions_start.isoformat(),
    timezone="UTC",
    end_offset=1,  # today's partition exists, so the hourly schedule can keep it current
)

# One run handles a whole partition range: a long backfill pays Dagster's per-run overhead once.
SINGLE_RUN = BackfillPolicy.single_run()
