"""Daily at 00:30 UTC for yesterday; hourly for today's intraday data."""

from datetime import timedelta

from dagster import AssetSelection, RunRequest, ScheduleEvaluationContext, define_asset_job, schedule

from pipelines.orchestration.partitions import DAILY

main_job = define_asset_job(
    "levwatch_main",
    selection=AssetSelection.all(),
    partitions_def=DAILY,
    description="Every venue dataset into the lake, then the dbt marts and the published warehouse.",
)


@schedule(job=main_job, cron_schedule="30 0 * * *", execution_timezone="UTC")
def daily_close(context: ScheduleEvaluationContext):
    """Yesterday, complete, once it has closed."""
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return RunRequest(run_key=f"daily-{day}", partition_key=day)


@schedule(job=main_job, cron_schedule="5 * * * *", execution_timezone="UTC")
def hourly_intraday(context: ScheduleEvaluationContext):
    """Today so far: the partition is rewritten whole each hour, so it never duplicates."""
    moment = context.scheduled_execution_time
    return RunRequest(run_key=f"hourly-{moment:%Y-%m-%dT%H}", partition_key=moment.date().isoformat())
