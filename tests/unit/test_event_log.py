"""The embedded instance's event log (pipelines/orchestration/event_log.py): Dagster's SQLite files, kept open per
shard and committed with synchronous=NORMAL in WAL mode. Checked through a real instance as prepare_home writes it."""

from __future__ import annotations

import os
import sqlite3

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    DagsterInstance,
    DailyPartitionsDefinition,
    MaterializeResult,
    asset,
    materialize,
)
from dagster_shared.serdes import deserialize_value

from pipelines.cli import prepare_home
from pipelines.orchestration.event_log import PooledSqliteEventLogStorage
from pipelines.settings import load_settings

DAYS = DailyPartitionsDefinition(start_date="2025-09-01", end_date="2025-09-04")


RANGE_TAGS = {
    "dagster/asset_partition_range_start": "2025-09-01",
    "dagster/asset_partition_range_end": "2025-09-03",
}


@asset(partitions_def=DAYS, check_specs=[AssetCheckSpec("rows_positive", asset="daily_thing")])
def daily_thing() -> MaterializeResult:
    return MaterializeResult(check_results=[AssetCheckResult(passed=True)])


def _materialized_days(instance: DagsterInstance) -> set[str]:
    return set(instance.get_materialized_partitions(AssetKey("daily_thing")))


def test_a_ranged_run_on_the_pooled_event_log_records_every_partition_where_dagster_reads_it(tmp_path):
    dagster_home = prepare_home(tmp_path, load_settings({}))
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        result = materialize([daily_thing], instance=instance, tags=RANGE_TAGS)
        assert result.success
        assert _materialized_days(instance) == {"2025-09-01", "2025-09-02", "2025-09-03"}
        run_id = result.run_id
        # the same engine serves every event of the run: opened once, not per event
        assert len(storage._engines) == 2  # the run's shard and the cross-run index
    # where Dagster's default storage keeps them: another instance on the same folder (as `make dev` would open it,
    # after this process's connections closed) sees the run and its three materializations
    run_shard = dagster_home / "history" / "runs" / f"{run_id}.db"
    assert run_shard.exists()
    with DagsterInstance.from_config(str(dagster_home)) as again:
        assert _materialized_days(again) == {"2025-09-01", "2025-09-02", "2025-09-03"}
        assert again.get_run_by_id(run_id).is_success
    with sqlite3.connect(run_shard) as con:
        assert con.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_its_connections_commit_with_synchronous_normal_and_a_forked_child_opens_its_own(tmp_path):
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    with storage.index_connection() as conn:
        # 1 = NORMAL (2 = FULL, SQLite's default: an fsync on every commit)
        assert conn.exec_driver_sql("pragma synchronous").scalar() == 1
    parent_engine = storage._engines["index"]
    pid = os.fork()
    if pid == 0:  # the child: a new engine, the parent's left alone (exit code says which)
        try:
            with storage.index_connection() as conn:
                conn.exec_driver_sql("select 1")
            os._exit(0 if storage._engines["index"] is not parent_engine else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert storage._engines["index"] is parent_engine
    storage.dispose()
    assert storage._engines == {}


def _check_rows(dagster_home) -> list[tuple]:  # noqa: ANN001
    with sqlite3.connect(dagster_home / "history" / "runs" / "index.db") as con:
        rows = con.execute(
            "select asset_key, check_name, partition, execution_status, evaluation_event"
            " from asset_check_executions order by partition nulls first"
        ).fetchall()
    # the run id and time differ between the two runs; what each planned row records must not (the evaluation rows
    # name their run's materialization: compared by partition and status only)
    return [
        (
            *row[:4],
            deserialize_value(row[4]).dagster_event.event_specific_data if row[3] == "PLANNED" else None,
        )
        for row in rows
    ]


def test_its_planned_check_rows_are_dagsters_own(tmp_path):
    """The class writes the planned asset-check rows itself (the event serialized once, not once per partition):
    the rows must be those Dagster's class writes for the same ranged run."""
    homes = {}
    for name in ("pooled", "dagster"):
        dagster_home = prepare_home(tmp_path / name, load_settings({}))
        if name == "dagster":  # Dagster's default SQLite storage
            (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        with DagsterInstance.from_config(str(dagster_home)) as instance:
            assert materialize([daily_thing], instance=instance, tags=RANGE_TAGS).success
        homes[name] = dagster_home
    pooled, dagster = _check_rows(homes["pooled"]), _check_rows(homes["dagster"])
    assert [row[2] for row in pooled if row[3] == "PLANNED"] == ["2025-09-01", "2025-09-02", "2025-09-03"]
    assert pooled == dagster
