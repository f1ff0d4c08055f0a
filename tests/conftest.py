"""Shared fixtures: one sandbox per test session on the small crash scenario."""

from __future__ import annotations

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
