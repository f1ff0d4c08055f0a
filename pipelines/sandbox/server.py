"""The sandbox server: every venue's API on loopback, each under /<venue>, over one simulated market.

Control endpoints under /_sandbox let tests move the clock and script faults (serving.Fault: error answers,
timeouts, truncated bodies, duplicate / out-of-order / renamed rows, a fault on page N of a pagination, and outages
of hours on the sandbox clock); nothing in the pipeline uses them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import asdict
from pathlib import Path

from aiohttp import web

from pipelines.sandbox.market import load_market
from pipelines.sandbox.routes import binance, bybit, coinglass, defillama, deribit, farside, hyperliquid, okx
from pipelines.sandbox.scenario import Scenario, load_scenario
from pipelines.sandbox.serving import STATE_KEY, Fault, SandboxState, body_faults
from pipelines.sandbox.streams import mount as mount_streams

# venue -> route module; a new venue adds one line here
VENUE_APPS = {
    "binance": binance.app,
    "bybit": bybit.app,
    "coinglass": coinglass.app,
    "defillama": defillama.app,  # api.llama.fi
    "defillama_stablecoins": defillama.app,  # stablecoins.llama.fi: the same app serves both hosts
    "deribit": deribit.app,
    "farside": farside.app,
    "hyperliquid": hyperliquid.app,
    "okx": okx.app,
}


def build_app(state: SandboxState) -> web.Application:
    # the middleware rewrites a route's rows when a duplicate / out-of-order / rename fault is scripted
    root = web.Application(middlewares=[body_faults])
    root[STATE_KEY] = state
    for venue, make in VENUE_APPS.items():
        root.add_subapp(f"/{venue}", make(state))
    mount_streams(root, state)  # Binance and Bybit liquidation websockets, replayed (/<venue>-ws)
    root.router.add_get("/_sandbox/health", _health)
    root.router.add_post("/_sandbox/clock", _set_clock)
    root.router.add_post("/_sandbox/faults", _add_faults)
    root.router.add_delete("/_sandbox/faults", _clear_faults)
    root.router.add_get("/_sandbox/truth", _truth)
    return root


async def _health(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    return web.json_response(
        {"scenario": state.market.scenario.name, "clock_ms": state.clock_ms, "venues": sorted(VENUE_APPS)}
    )


async def _set_clock(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    body = await request.json()
    state.clock.move_to(int(body["clock_ms"]))
    return web.json_response({"clock_ms": state.clock_ms})


async def _add_faults(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    body = await request.json()
    try:
        faults = [Fault(**{"path": None, **f}) for f in (body if isinstance(body, list) else [body])]
    except (TypeError, ValueError) as exc:  # an unknown kind or field: say so, script nothing
        return web.json_response({"error": f"bad fault: {exc}"}, status=400)
    with state._lock:
        state.faults.extend(faults)
    return web.json_response([asdict(f) for f in faults])


async def _clear_faults(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    with state._lock:
        state.faults.clear()
    return web.json_response([])


async def _truth(request: web.Request) -> web.Response:
    state: SandboxState = request.app[STATE_KEY]
    return web.json_response(state.market.truth)


class SandboxServer:
    """Runs the app on its own event loop in a daemon thread; `base_url(venue)` is what a client points at."""

    def __init__(self, state: SandboxState, host: str = "127.0.0.1", port: int = 0):
        self.state, self.host, self.port = state, host, port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, venue: str) -> str:
        return f"{self.url}/{venue}"

    def ws_url(self, venue: str) -> str:
        return f"ws://{self.host}:{self.port}/{venue}-ws"

    def start(self) -> SandboxServer:
        if not self.port:
            self.port = _free_port(self.host)
        self._thread = threading.Thread(target=self._run, name="levwatch-sandbox", daemon=True)
        self._thread.start()
        self._started.wait(30)
        if self._error:
            raise RuntimeError(f"sandbox failed to start on {self.url}: {self._error}") from self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._runner = web.AppRunner(build_app(self.state), access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port)
            self._loop.run_until_complete(site.start())
        except BaseException as exc:  # surfaced to start()
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._runner is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)
        self._runner = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def make_server(
    home: Path,
    scenario_path: Path | None = None,
    *,
    scenario: Scenario | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> SandboxServer:
    scenario = scenario or load_scenario(scenario_path)
    market = load_market(scenario, home / "sandbox")
    return SandboxServer(SandboxState.from_market(market), host=host, port=port)
