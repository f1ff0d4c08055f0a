"""Overlapping runs on an instance that prepare_home wrote: the pools' limits make the second writer wait."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from dagster import DagsterInstance

from pipelines.cli import dagster_yaml, prepare_home
from pipelines.settings import load_settings
from pipelines.warehouse import build_path

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 90.0


def start_run(home: Path, dagster_home: Path) -> subprocess.Popen:
    env = {**os.environ, "LEVWATCH_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.pool_probe"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition, what: str, runs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        ended = [r for r in runs if r.poll() is not None]
        assert not ended, f"a run ended while waiting for {what}:\n{ended[0].stdout.read()}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_the_second_writer_waits_for_the_pool_slot_instead_of_failing_on_the_lock(tmp_path):
    dagster_home = prepare_home(tmp_path)
    first = start_run(tmp_path, dagster_home)
    runs = [first]
    try:
        wait_for(lambda: list(tmp_path.glob("holding-*")), "the first run to hold the writer lock", runs)
        second = start_run(tmp_path, dagster_home)
        runs.append(second)
        with DagsterInstance.from_config(str(dagster_home)) as instance:

            def second_is_queued_on_the_pool() -> bool:
                info = instance.event_log_storage.get_concurrency_info("duckdb_writer")
                return info.slot_count == 1 and info.pending_step_count >= 1

            wait_for(second_is_queued_on_the_pool, "the second run to wait for the duckdb_writer slot", runs)
        (tmp_path / "release").touch()
        outputs = [run.communicate(timeout=WAIT_S)[0] for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert "Could not set lock" not in "".join(outputs)
    with duckdb.connect(str(build_path(tmp_path)), read_only=True) as con:
        writers = [r[0] for r in con.execute("select run_id from writes order by written_at").fetchall()]
    holders = sorted(tmp_path.glob("holding-*"), key=lambda p: p.stat().st_mtime)
    assert writers == [p.name.removeprefix("holding-") for p in holders] and len(writers) == 2


def test_prepare_home_brings_an_instance_it_wrote_up_to_date_and_leaves_a_hand_written_one(tmp_path):
    config = tmp_path / "dagster" / "dagster.yaml"
    config.parent.mkdir()
    config.write_text(
        "# Written by levwatch: the Dagster instance for this LEVWATCH_HOME.\ntelemetry:\n  enabled: false\n"
    )  # what levwatch wrote before the pools had limits
    prepare_home(tmp_path)
    assert config.read_text() == dagster_yaml(load_settings({}), config.parent)
    with DagsterInstance.from_config(str(config.parent)) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    hand_written = "telemetry:\n  enabled: true\n"
    config.write_text(hand_written)
    prepare_home(tmp_path)
    assert config.read_text() == hand_written
