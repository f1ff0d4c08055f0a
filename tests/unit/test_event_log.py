"""The embedded instance's event log (pipelines/orchestration/event_log.py): Dagster's SQLite files, kept open per
shard and committed with synchronous=NORMAL in WAL mode. Checked through a real instance as prepare_home writes it."""

from __future__ import annotations

import os
import sqlite3

from dagster import (
    AssetKey,
    DagsterInstance,
    DailyPartitionsDefinition,
    asset,
    materialize,
)

from pipelines.cli import prepare_home
from pipelines.orchestration.event_log import PooledSqliteEventLogStorage
from pipelines.settings import load_settings

DAYS = DailyPartitionsDefinition(start_date="2025-09-01", end_date="2025-09-04")


@asset(partitions_def=DAYS)
def daily_thing(context) -> None:  # noqa: ANN001
    context.log.info(f"{context.partition_key_range}")


def _materialized_days(instance: DagsterInstance) -> set[str]:
    return set(instance.get_materialized_partitions(AssetKey("daily_thing")))


def test_a_ranged_run_on_the_pooled_event_log_records_every_partition_where_dagster_reads_it(tmp_path):
    dagster_home = prepare_home(tmp_path, load_settings({}))
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        result = materialize(
            [daily_thing], instance=instance, tags={"dagster/asset_partition_range_start": "2025-09-01",
                                                    "dagster/asset_partition_range_end": "2025-09-03"},
        )  # fmt: skip
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
