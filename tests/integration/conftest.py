"""Session fixtures of the integration tests that share one warehouse."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from tests.integration.liquidation_lake import build_warehouse

# precision and recall of the cascade detector against the simulator's truth, one line per market
# (tests/integration/test_liquidation_cascades.py), printed at the end of the run
CASCADE_SCORES: list[str] = []


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if CASCADE_SCORES:
        terminalreporter.write_sep("=", "liquidation cascades against the simulator's truth")
        for line in CASCADE_SCORES:
            terminalreporter.write_line(line)


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
