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
from tests import summary_lines

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
        server.state.clock.move_to(server.state.market.scenario.clock_ms)
        server.state._limits.clear()


# -- pytest-xdist (`make test`: -n 2): one scope per test file, so a file's module fixtures run once on one worker,
# except files that share a session fixture, which share a scope so that it is built once
SHARED_SCOPES = {
    "test_liquidation_marts.py": "liquidation_warehouse",
    "test_liquidation_cascades.py": "liquidation_warehouse",
}
# The longest scopes go out first (longest-first keeps the two workers' ends close: the last scope handed out is
# short); the rest follow in collection order. Seconds measured under `make test` (--durations), a ranking only.
SCOPE_SECONDS = {
    "tests/integration/test_pipeline.py": 290,
    "tests/integration/test_dbt_marts.py": 160,
    "tests/integration/test_scale_out.py": 150,
    "liquidation_warehouse": 130,
    "tests/integration/test_strands.py": 80,
    "tests/integration/test_okx_liquidations.py": 47,
    "tests/integration/test_contagion.py": 46,
    "tests/integration/test_defillama.py": 45,
    "tests/faults/test_fault_suite.py": 34,
    "tests/integration/test_venue_operational_risk.py": 32,
    "tests/integration/test_deribit.py": 29,
    "tests/integration/test_recorder.py": 28,
}


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class FileScopes(LoadScopeScheduling):
        _longest_first = False

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return SHARED_SCOPES.get(Path(path).name, path)

        def schedule(self) -> None:
            self.config.option.loadscopereorder = False  # the order below, not xdist's tests-per-scope
            super().schedule()

        def _assign_work_unit(self, node) -> None:
            # Order the work queue (scopes), never the collections: a worker runs the tests at the indexes it is
            # sent, counted in its own collection, so a reordered copy here would send it other files' tests (each
            # file's module fixtures then ran on both workers).
            if not self._longest_first:
                ordered = sorted(self.workqueue.items(), key=lambda item: -SCOPE_SECONDS.get(item[0], 0))
                self.workqueue.clear()
                self.workqueue.update(ordered)  # stable: the rest keep collection order
                self._longest_first = True
            super()._assign_work_unit(node)

    return FileScopes(config, log)


# -- the fault table (tests/faults), printed once at the end: pytest's terminal summary, so `-q` and capture keep
# it. Under pytest-xdist (`make test` runs two workers) each worker hands its rows to the controller.
FAULT_SUITE = "tests.faults.test_fault_suite"
_WORKER_FAULT_ROWS: list[dict] = []


def _local_fault_rows() -> list[dict]:
    suite = sys.modules.get(FAULT_SUITE)  # never imported here: only if this process ran fault tests
    return [dataclasses.asdict(row) for row in suite.ROWS.values()] if suite else []


_WORKER_SECTIONS: dict[str, list[str]] = {}


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fault_rows"] = _local_fault_rows()
        workeroutput["summary_sections"] = summary_lines.SECTIONS


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    output = getattr(node, "workeroutput", {})
    _WORKER_FAULT_ROWS.extend(output.get("fault_rows", []))
    for section, lines in output.get("summary_sections", {}).items():
        _WORKER_SECTIONS.setdefault(section, []).extend(lines)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workeroutput"):
        return  # a worker: the controller prints
    sections = {k: list(v) for k, v in summary_lines.SECTIONS.items()}
    for section, lines in _WORKER_SECTIONS.items():
        sections.setdefault(section, []).extend(lines)
    for section, lines in sections.items():
        terminalreporter.write_sep("=", section)
        for line in lines:
            terminalreporter.write_line(line)
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
