"""The services a scale-out test needs: the machine's own where they run, else ones the test starts itself.

- PostgreSQL: the server at LEVWATCH_TEST_POSTGRES_URL (default the local one on 127.0.0.1:5432) if it answers;
  otherwise a throwaway cluster from PyPI's `pgserver` (PostgreSQL binaries in a wheel, no system package, runs
  as root too). Every test session gets its own database, dropped at the end.
- Celery broker: RabbitMQ at LEVWATCH_TEST_AMQP_URL (default 127.0.0.1:5672, guest/guest) if it answers, with
  Celery's rpc:// results; otherwise kombu's SQLAlchemy transport and Celery's database results backend on that
  same PostgreSQL database. The fallback needs no second server binary (psycopg2 and SQLAlchemy are already
  dependencies of dagster-postgres), so a fresh machine runs the same test; it polls, so it is for tests and small
  setups, and the README recommends RabbitMQ (or Redis) for production.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg2

from pipelines.settings import with_psycopg2

REPO = Path(__file__).resolve().parents[2]
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _answers(url: str, timeout_s: float = 1.0) -> bool:
    """Whether anything accepts a TCP connection at the URL's host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass
class Postgres:
    admin_url: str
    started_here: bool  # a throwaway pgserver cluster (nothing answered at the configured URL)


@contextmanager
def postgres_server(tmp_dir: Path, url: str | None = None):
    url = url or os.environ.get("LEVWATCH_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    if _answers(url):
        yield Postgres(url, started_here=False)
        return
    import pgserver

    server = pgserver.get_server(tmp_dir / "pgdata", cleanup_mode="stop")
    try:
        yield Postgres(server.get_uri(), started_here=True)
    finally:
        server.cleanup()


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextmanager
def throwaway_database(admin_url: str):
    """A new database on the server; yields its URL and drops it (and its connections) afterwards."""
    name = f"levwatch_scaleout_{secrets.token_hex(4)}"
    con = psycopg2.connect(admin_url)
    con.autocommit = True
    try:
        con.cursor().execute(f"create database {name}")
        yield with_database(admin_url, name)
    finally:
        con.cursor().execute(f"drop database if exists {name} with (force)")
        con.close()


@dataclass
class Broker:
    broker_url: str
    backend_url: str
    kind: str  # rabbitmq | postgres (kombu's SQLAlchemy transport)


def celery_broker(database_url: str, amqp_url: str | None = None) -> Broker:
    amqp_url = amqp_url or os.environ.get("LEVWATCH_TEST_AMQP_URL") or DEFAULT_AMQP_URL
    if _answers(amqp_url):
        return Broker(amqp_url, "rpc://", "rabbitmq")
    return Broker(with_psycopg2(f"sqla+{database_url}"), with_psycopg2(f"db+{database_url}"), "postgres")


@contextmanager
def celery_worker(env: dict[str, str], queue: str, log: Path, concurrency: int = 2):
    """`celery -A pipelines.celery_worker worker` in its own process group, ready when it says so."""
    name = f"levwatch-test-{secrets.token_hex(3)}@{socket.gethostname()}"
    command = [
        sys.executable, "-m", "celery", "-A", "pipelines.celery_worker", "worker", "-Q", queue, "-n", name,
        "--concurrency", str(concurrency), "--pool", "prefork", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    with log.open("wb") as out:
        worker = subprocess.Popen(
            command, cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while b" ready." not in log.read_bytes():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield worker, name
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        from kombu import Connection

        with Connection(env["LEVWATCH_CELERY_BROKER_URL"]) as broker:  # a shared RabbitMQ keeps no test queue
            broker.default_channel.queue_delete(queue)


@dataclass(frozen=True)
class S3Store:
    endpoint_url: str
    bucket: str

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS environment every client (pyarrow, DuckDB's httpfs, boto3) reads."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "levwatch-test",
            "AWS_SECRET_ACCESS_KEY": "levwatch-test",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def object_keys(self) -> list[str]:
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint_url, **_boto_credentials(self.env))
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _boto_credentials(env: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_REGION"],
    }


@contextmanager
def s3_server(bucket: str = "levwatch-lake"):
    """An S3-compatible endpoint on loopback: moto's server mode (a real HTTP S3 API, in this process's thread),
    with one empty bucket. Every client talks to it over HTTP as it would to any S3 store."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        store = S3Store(f"http://{host}:{port}", bucket)
        # moto keeps its buckets in process-wide state, which outlives a server: start from none, so a bucket an
        # earlier server of this process filled (another test module on the same xdist worker) is not seen here
        httpx.post(f"{store.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
        boto3.client("s3", endpoint_url=store.endpoint_url, **_boto_credentials(store.env)).create_bucket(
            Bucket=bucket
        )
        yield store
    finally:
        server.stop()
