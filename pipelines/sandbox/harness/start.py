"""Starting a sandbox for whoever drives the pipeline on it: the demo, `make dev` (`levwatch sandbox run`), tests."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from pipelines.recorder.streams import STREAM_VENUES
from pipelines.sandbox.server import SandboxServer, make_server
from pipelines.settings import Settings


def sandbox_env(server: SandboxServer) -> dict[str, str]:
    """The LEVWATCH_* variables that point the pipeline (its assets and the recorder) at a running sandbox."""
    return {
        "LEVWATCH_SOURCE": "sandbox",
        "LEVWATCH_SANDBOX_URL": server.url,
        **{f"LEVWATCH_{venue.upper()}_WS_URL": server.ws_url(venue) for venue in STREAM_VENUES},
    }


def run_with_sandbox(
    command: list[str], settings: Settings, *, scenario_path: Path | None = None, port: int = 0
) -> int:
    """Run `command` with LEVWATCH_SOURCE=sandbox, pointed at a sandbox started here for as long as it runs (or at
    LEVWATCH_SANDBOX_URL, when one is already running); the command's exit code."""
    env = dict(os.environ) | {"LEVWATCH_SOURCE": "sandbox"}
    server = None
    if not settings.sandbox_url:
        server = make_server(settings.home, scenario_path or settings.sandbox_scenario, port=port).start()
        env |= sandbox_env(server)
        print(f"sandbox serving the '{server.state.market.scenario.name}' market on {server.url}", flush=True)
    try:
        proc = subprocess.Popen(command, env=env)
        previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        try:
            while True:
                try:
                    return proc.wait()
                except KeyboardInterrupt:  # the terminal's Ctrl-C reached the command too: let it shut down
                    continue
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        if server is not None:
            server.stop()
