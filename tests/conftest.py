"""Shared fixtures: one sandbox per test session on the small crash scenario."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import httpx
import pytest

from pipelines.sandbox.scenario import load_scenario
from pipelines.sandbox.server import SandboxServer, make_server
from pipelines.venues.http import BREAKERS

FIXTURES = Path(__file__).parent / "fixtures"
SMALL_SCENARIO = FIXTURES / "scenario_small.yaml"


@pytest.fixture(scope="session")
def sandbox_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("levwatch_home")


@pytest.fixture(scope="session")
def small_scenario():
    return load_scenario(SMALL_SCENARIO)


@pytest.fixture(scope="session")
def sandbox(sandbox_home, small_scenario) -> SandboxServer:
    server = make_server(sandbox_home, scenario=small_scenario).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean_sandbox_state(request):
    """Each test starts with no scripted faults, the scenario clock and no open ban breakers."""
    BREAKERS.reset()
    yield
    BREAKERS.reset()
    if "sandbox" in request.fixturenames:
        server: SandboxServer = request.getfixturevalue("sandbox")
        httpx.delete(f"{server.url}/_sandbox/faults")
        server.state.clock_ms = server.state.market.scenario.clock_ms
        server.state._limits.clear()


# -- the fault table (tests/faults), printed once at the end: pytest's terminal summary, so `-q` and capture keep
# it. Under pytest-xdist (`make test` runs two workers) each worker hands its rows to the controller.
FAULT_SUITE = "tests.faults.test_fault_suite"
_WORKER_FAULT_ROWS: list[dict] = []


def _local_fault_rows() -> list[dict]:
    suite = sys.modules.get(FAULT_SUITE)  # never imported here: only if this process ran fault tests
    return [dataclasses.asdict(row) for row in suite.ROWS.values()] if suite else []


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fault_rows"] = _local_fault_rows()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _WORKER_FAULT_ROWS.extend(getattr(node, "workeroutput", {}).get("fault_rows", []))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workeroutput"):
        return  # a worker: the controller prints
    rows = _local_fault_rows() + _WORKER_FAULT_ROWS
    if not rows:
        return
    from tests.faults.conftest import FAULT_ORDER
    from tests.faults.harness import FaultRow, format_table

    order = list(FAULT_ORDER)
    table = format_table(
        sorted(
            (FaultRow(**row) for row in rows), key=lambda r: order.index(r.fault) if r.fault in order else 99
        )
    )
    terminalreporter.write_sep("=", "fault suite")
    terminalreporter.write_line(table)
    target = os.environ.get("LEVWATCH_FAULT_TABLE")  # `make faults` keeps the last measured table here
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(table + "\n")
