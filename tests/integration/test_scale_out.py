"""The scale-out path end to end on real services: a Dagster instance on PostgreSQL, a run whose steps execute on a
Celery worker process, the lake on an S3-compatible store (moto's server on loopback), the warehouse a DuckLake
catalog on PostgreSQL with its data files in that bucket; the same mart rows as the embedded path (SQLite-free
ephemeral instance, one process, folder lake, DuckDB file).

The services are the machine's own where they run, else started here (tests/integration/scaleout_services.py);
`test_services_are_started_when_none_answer` points the fixtures at closed ports to prove that path.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import duckdb
import httpx
import psycopg2
import pytest
from dagster import DagsterInstance, execute_job, reconstructable

from pipelines.cli import prepare_home
from pipelines.settings import load_settings, with_psycopg2
from pipelines.warehouse import connect_ducklake_read_only, published_path
from tests.integration.scaleout_job import embedded_window_job, scaleout_window_job
from tests.integration.scaleout_services import (
    celery_broker,
    celery_worker,
    postgres_server,
    s3_server,
    throwaway_database,
)

WINDOW = ("2025-10-10", "2025-10-11")
TAGS = {"dagster/asset_partition_range_start": WINDOW[0], "dagster/asset_partition_range_end": WINDOW[1]}
FUNDING_ROWS = "select * from marts.fct_funding_rates order by all"
FRESHNESS_ROWS = (
    "select venue, dataset, is_stale, stale_day_count, newest_day_written, last_run_ok "
    "from marts.input_freshness order by all"
)


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    with (
        postgres_server(tmp_path_factory.mktemp("pg")) as server,
        throwaway_database(server.admin_url) as database_url,
        throwaway_database(server.admin_url) as catalog_url,
        s3_server() as s3,
    ):
        yield database_url, celery_broker(database_url), catalog_url, s3


def _env(home, sandbox, **extra) -> dict[str, str]:
    scrubbed = {k: v for k, v in os.environ.items() if not k.startswith(("LEVWATCH_", "DAGSTER_"))}
    return {
        **scrubbed,
        "LEVWATCH_HOME": str(home),
        "LEVWATCH_SOURCE": "sandbox",
        "LEVWATCH_SANDBOX_URL": sandbox.url,
        "PYTHONWARNINGS": "ignore",
        **extra,
    }


def _marts(home):
    with duckdb.connect(str(published_path(home)), read_only=True) as con:
        return con.execute(FUNDING_ROWS).fetchall(), con.execute(FRESHNESS_ROWS).fetchall()


def _ducklake_marts(env):
    with connect_ducklake_read_only(load_settings(env)) as con:
        return con.execute(FUNDING_ROWS).fetchall(), con.execute(FRESHNESS_ROWS).fetchall()


# An analyst on another machine: a separate process that attaches the DuckLake warehouse read-only over and over
# while a build runs, and prints what each look saw (its snapshot, and the funding rows' count and checksum).
READER = """
import json, sys, time
from pipelines.settings import load_settings
from pipelines.warehouse import connect_ducklake_read_only, published_snapshot
settings = load_settings()
while True:
    try:
        con = connect_ducklake_read_only(settings)
    except FileNotFoundError:  # nothing published yet: a state, not an error
        print(json.dumps({"published": False}), flush=True)
    else:
        with con:
            rows = con.execute("select count(*), sum(hash(venue, asset, funding_time, funding_rate))"
                               " from marts.fct_funding_rates").fetchone()
        print(json.dumps({"published": True, "rows": rows[0], "checksum": str(rows[1])}), flush=True)
    time.sleep(0.2)
"""


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory, sandbox):
    home = tmp_path_factory.mktemp("embedded_home")
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith(("LEVWATCH_", "DAGSTER_"))]:
            patch.delenv(key)
        for key, value in _env(home, sandbox).items():
            patch.setenv(key, value)
        with DagsterInstance.ephemeral() as instance:
            result = execute_job(
                reconstructable(embedded_window_job),
                instance=instance,
                run_config={"execution": {"config": {"in_process": True}}},
                tags=TAGS,
            )
    assert result.success
    return _marts(home)


@pytest.fixture(scope="module")
def celery_run(tmp_path_factory, sandbox, services):
    database_url, broker, catalog_url, s3 = services
    home = tmp_path_factory.mktemp("scaleout_home")
    queue = f"levwatch_test_{os.getpid()}"
    env = _env(
        home,
        sandbox,
        LEVWATCH_DAGSTER_POSTGRES_URL=database_url,
        LEVWATCH_EXECUTOR="celery",
        LEVWATCH_CELERY_BROKER_URL=broker.broker_url,
        LEVWATCH_CELERY_BACKEND_URL=broker.backend_url,
        LEVWATCH_CELERY_QUEUE=queue,
        LEVWATCH_LAKE_URL=f"s3://{s3.bucket}/lake",
        LEVWATCH_WAREHOUSE="ducklake",
        LEVWATCH_DUCKLAKE_CATALOG=catalog_url,
        **s3.env,
    )
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith(("LEVWATCH_", "DAGSTER_"))]:
            patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        env["DAGSTER_HOME"] = str(prepare_home(home, load_settings()))
        patch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
        log = home / "celery-worker.log"
        with celery_worker(env, queue, log) as (_, worker_name), DagsterInstance.get() as instance:
            killed = _run_killed_mid_step(instance, sandbox, database_url)
            # the next run of the window (what the tests below compare with the embedded path), with an analyst
            # in a second process reading the warehouse all the while
            # its output goes to files, not pipes: a pipe's write end can leak into a process another thread of
            # this one starts meanwhile, and then reading it to EOF never ends (seen once in the full suite)
            out_path, err_path = home / "reader.out", home / "reader.err"
            with out_path.open("w") as out_file, err_path.open("w") as err_file:
                reader = subprocess.Popen(
                    [sys.executable, "-c", READER], env=env, stdout=out_file, stderr=err_file, text=True
                )
                try:
                    result = execute_job(reconstructable(scaleout_window_job), instance=instance, tags=TAGS)
                    time.sleep(2)  # a few looks after the publish
                finally:
                    reader.terminate()
                    try:
                        reader.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        reader.kill()
                        reader.wait(timeout=30)
            out, err = out_path.read_text(), err_path.read_text()
            published = _ducklake_marts(env) if result.success else None
            looks = [json.loads(line) for line in out.splitlines()]
            yield ScaleOut(
                home, env, database_url, killed, result, worker_name, log, s3, published, looks, err
            )


@dataclass
class ScaleOut:
    home: object
    env: dict
    database_url: str
    killed: object
    result: object
    worker_name: str
    log: object
    s3: object
    published: tuple | None
    looks: list[dict]
    reader_stderr: str


KILLED_STEP = "raw__binance__funding_rates"


def _run_killed_mid_step(instance, sandbox, database_url):
    """A run whose worker process dies (SIGKILL, like the OOM killer) in the middle of its raw step, while the
    step's third request (ETH's first page) hangs on the sandbox."""
    hang = {"venue": "binance", "path": "/fapi/v1/fundingRate", "kind": "timeout", "delay_s": 5, "skip": 2}
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=hang).raise_for_status()
    outcome = {}
    before = {r.run_id for r in instance.get_runs()}
    run = threading.Thread(
        target=lambda: outcome.update(
            result=execute_job(reconstructable(scaleout_window_job), instance=instance, tags=TAGS)
        )
    )
    run.start()
    deadline = time.monotonic() + 60
    pid = None
    while pid is None or any(f.kind == "timeout" for f in sandbox.state.faults):
        assert time.monotonic() < deadline, "the step never reached the hanging request"
        time.sleep(0.2)
        new = [r.run_id for r in instance.get_runs() if r.run_id not in before]
        pid = _step_pid(database_url, new[0], KILLED_STEP) if new else None
    os.kill(pid, signal.SIGKILL)
    run.join(timeout=120)
    return outcome["result"]


def _step_pid(database_url: str, run_id: str, step_key: str) -> int | None:
    with psycopg2.connect(database_url) as con, con.cursor() as cur:
        cur.execute(
            "select event from event_logs where run_id = %s and step_key = %s and dagster_event_type = 'STEP_START'",
            (run_id, step_key),
        )
        row = cur.fetchone()
    return json.loads(row[0])["dagster_event"]["pid"] if row else None


def test_the_celery_run_succeeds_with_every_check_passing(celery_run):
    result, log = celery_run.result, celery_run.log
    assert result.success, log.read_text()[-3000:]
    checks = result.get_asset_check_evaluations()
    assert checks and [c.check_name for c in checks if not c.passed] == []


def test_runs_and_events_are_in_postgresql_and_every_step_ran_on_the_worker(celery_run):
    home, database_url, result, worker_name = (
        celery_run.home,
        celery_run.database_url,
        celery_run.result,
        celery_run.worker_name,
    )
    config = home / "dagster" / "dagster.yaml"
    assert f'postgres_url: "{with_psycopg2(database_url)}"' in config.read_text()
    assert config.stat().st_mode & 0o777 == 0o600  # it holds the database password
    with psycopg2.connect(database_url) as con, con.cursor() as cur:
        cur.execute("select status from runs where run_id = %s", (result.run_id,))
        assert cur.fetchall() == [("SUCCESS",)]
        cur.execute(
            "select step_key, event from event_logs where run_id = %s and dagster_event_type = 'ENGINE_EVENT'"
            " and event like %s",
            (result.run_id, "%in celery worker%"),
        )
        on_worker = {}
        for step_key, event in cur.fetchall():
            metadata = json.loads(event)["dagster_event"]["event_specific_data"]["metadata_entries"]
            on_worker[step_key] = next(
                e["entry_data"]["text"] for e in metadata if e["label"] == "Celery worker"
            )
        cur.execute(
            "select count(*), count(distinct asset_key) from event_logs where run_id = %s"
            " and dagster_event_type = 'ASSET_MATERIALIZATION'",
            (result.run_id,),
        )
        materializations, assets = cur.fetchone()
    steps = {e.step_key for e in result.all_events if e.is_step_success}
    assert steps and set(on_worker) == steps
    assert set(on_worker.values()) == {worker_name}
    assert materializations == len(result.get_asset_materialization_events()) > 0
    assert assets >= 1 + 2  # the raw dataset, and at least the two marts


def test_the_celery_run_builds_the_same_mart_rows_as_the_embedded_path(celery_run, embedded_run):
    """After a run whose worker died mid-step: nothing lost, nothing twice (rows read from the DuckLake warehouse
    at its published snapshot; the embedded run's from its DuckDB file)."""
    funding, freshness = celery_run.published
    assert funding and freshness
    assert (funding, freshness) == embedded_run


def test_the_lake_and_the_warehouse_data_are_objects_in_the_bucket(celery_run):
    keys = celery_run.s3.object_keys()
    assert "lake/binance/funding_rates/date=2025-10-10/data.parquet" in keys
    assert "lake/binance/funding_rates/date=2025-10-11/data.parquet" in keys
    assert any(k.startswith("lake/binance/api_health/") for k in keys)
    # the DuckLake catalog's data files: one folder per schema and table, under the lake's prefix
    assert any(
        k.startswith("lake/ducklake/marts/fct_funding_rates/") and k.endswith(".parquet") for k in keys
    )
    assert not (celery_run.home / "lake" / "binance").exists()  # nothing went to the local folder lake
    assert not published_path(celery_run.home).exists()  # nor to a DuckDB file


def test_an_analyst_reading_during_a_build_sees_nothing_or_the_whole_published_build(celery_run):
    """A second process attaches the DuckLake warehouse read-only, over and over, while the run ingests and dbt
    builds model after model (each its own commit): every look succeeds, and sees either no published warehouse
    yet or the complete published marts, never a build in progress."""
    assert celery_run.result.success
    assert "Error" not in celery_run.reader_stderr, celery_run.reader_stderr[-2000:]
    looks = celery_run.looks
    assert len(looks) >= 5, celery_run.reader_stderr[-2000:]
    funding, _ = celery_run.published
    seen = [(look["rows"], look["checksum"]) for look in looks if look["published"]]
    assert not looks[0]["published"] and seen  # the build started unpublished and ended published
    assert len(set(seen)) == 1 and seen[0][0] == len(funding)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


def test_services_are_started_when_none_answer(tmp_path):
    """A fresh machine has no PostgreSQL and no RabbitMQ: the fixtures start a cluster and use it as the broker."""
    port = _closed_port()
    with (
        postgres_server(tmp_path, url=f"postgresql://postgres@127.0.0.1:{port}/postgres") as server,
        throwaway_database(server.admin_url) as database_url,
    ):
        assert server.started_here
        broker = celery_broker(database_url, amqp_url=f"amqp://guest:guest@127.0.0.1:{port}//")
        assert broker.kind == "postgres" and broker.broker_url == with_psycopg2(f"sqla+{database_url}")
        from kombu import Connection

        with Connection(broker.broker_url) as con:  # a message goes through the fallback broker and back
            queue = con.SimpleQueue("levwatch_probe")
            queue.put({"probe": 1})
            assert queue.get(timeout=5).payload == {"probe": 1}
            queue.close()


def test_a_worker_killed_mid_step_fails_the_run_clearly_and_gives_back_its_slot(celery_run):
    database_url, killed = celery_run.database_url, celery_run.killed
    assert not killed.success
    assert not [e for e in killed.all_events if e.is_step_success]  # dbt never started on a half-written step
    with psycopg2.connect(database_url) as con, con.cursor() as cur:
        cur.execute("select status from runs where run_id = %s", (killed.run_id,))
        assert cur.fetchall() == [("FAILURE",)]
        cur.execute(
            "select dagster_event_type from event_logs where run_id = %s and event like %s",
            (
                killed.run_id,
                f"%[{KILLED_STEP}]: billiard.exceptions.WorkerLostError: Worker exited prematurely%",
            ),
        )
        # the run failure event (stored under its legacy name) names the step and how its worker died
        assert cur.fetchall() == [("PIPELINE_FAILURE",)]
        cur.execute("select count(*) from concurrency_slots where run_id = %s", (killed.run_id,))
        assert cur.fetchone() == (
            0,
        )  # the dead step's venue slot was given back, so the next run could start
