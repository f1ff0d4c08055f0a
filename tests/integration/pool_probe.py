"""A run whose one step is in the `duckdb_writer` pool and holds dbt's working file open for writing, as dbt does.

`python -m tests.integration.pool_probe` materializes it on the instance at $DAGSTER_HOME and exits 0 on success.
The step touches `holding-<run id>` once it has the writer lock, then keeps it until `release` exists, so a test
can start a second run while the first one writes.
"""

import os
import sys
import time
from pathlib import Path

import duckdb
from dagster import AssetExecutionContext, DagsterInstance, asset, materialize

from pipelines.warehouse import build_path

RELEASE_WAIT_S = 120.0


@asset(pool="duckdb_writer")
def pool_probe(context: AssetExecutionContext) -> None:
    home = Path(os.environ["LEVWATCH_HOME"])
    build_path(home).parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(build_path(home))) as con:  # a second writer process gets "Could not set lock"
        con.execute("create table if not exists writes (run_id varchar, written_at timestamp default now())")
        con.execute("insert into writes (run_id) values (?)", [context.run_id])
        (home / f"holding-{context.run_id}").touch()
        deadline = time.monotonic() + RELEASE_WAIT_S
        while not (home / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


if __name__ == "__main__":
    with DagsterInstance.get() as instance:
        result = materialize([pool_probe], instance=instance, raise_on_error=False)
    sys.exit(0 if result.success else 1)
