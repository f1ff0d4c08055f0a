"""Session fixtures of the integration tests that share one warehouse."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from tests.integration.liquidation_lake import build_warehouse


@pytest.fixture(scope="session")
def liquidation_truth(sandbox) -> pa.Table:
    """Every forced close the small scenario's simulator made."""
    return sandbox.state.market.liquidation_events


@pytest.fixture(scope="session")
def liquidation_warehouse(
    tmp_path_factory, sandbox, small_scenario, liquidation_truth
) -> duckdb.DuckDBPyConnection:
    """The liquidation and cascade marts built from the small scenario (tests/integration/liquidation_lake.py)."""
    con = build_warehouse(
        tmp_path_factory.mktemp("liquidations_home"), sandbox, small_scenario, liquidation_truth
    )
    yield con
    con.close()
