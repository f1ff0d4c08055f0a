"""Binance and Bybit liquidation websockets over the simulated market's forced closes, replayed in time.

The simulator's `liquidation_events` are the ground truth. A replay clock walks simulated time at `speed`
simulated ms per wall ms; each connection is pushed what the venue would have pushed from the replay position at
the moment it connected onward, so a reconnect misses what went out while it was away. Binance keeps only the
latest liquidation per symbol in each 1000 ms window; Bybit batches every liquidation of each 500 ms window.
Everything actually sent is logged per connection (`StreamHub.sent`), so tests can compare what a recorder kept.
Fault hook: POST /_sandbox/streams/inject sends a raw text frame (malformed on purpose) to a venue's open
connections, logged in `StreamHub.injected`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from aiohttp import WSMsgType, web

from pipelines.instruments import venue_symbol
from pipelines.sandbox.serving import STATE_KEY, SandboxState

HUB_ATTR = "streams"  # state.streams: the StreamHub, for tests and the control endpoints
BINANCE_WINDOW_MS = 1000  # "only the latest one liquidation order within 1000ms will be pushed"
BYBIT_WINDOW_MS = 500  # allLiquidation pushes every event, in 500 ms batches
DEFAULT_SPEED = 86_400.0  # one simulated day per wall second: the 4-day test scenario replays in ~4 s
TICK_S = 0.02  # how often a connection's pump looks at the replay clock
BYBIT_IDLE_CUT_S = 600  # Bybit cuts a connection with no client message (ping) for 10 minutes
BINANCE_ALL = "!forceOrder@arr"


def fmt_number(value: float) -> str:
    """A venue-style decimal string: 10 significant digits, never in exponent notation."""
    return np.format_float_positional(value, precision=10, unique=False, fractional=False, trim="-")


@dataclass
class Push:
    """One venue message's worth of events for one symbol, due at `push_ms` of simulated time."""

    push_ms: int
    symbol: str
    rows: list[dict[str, Any]]  # truth events: ts, side, price, qty_coin, notional_usd, event_id


@dataclass
class Tape:
    """A venue's pushes sorted by due time."""

    pushes: list[Push]
    due: np.ndarray  # push_ms of each push, ascending

    def between(self, after_ms: int, upto_ms: int) -> list[Push]:
        lo = int(np.searchsorted(self.due, after_ms, side="right"))
        hi = int(np.searchsorted(self.due, upto_ms, side="right"))
        return self.pushes[lo:hi]


def _venue_events(events: pa.Table, venue: str) -> list[dict[str, Any]]:
    table = events.filter(pc.equal(events["venue"], venue)).sort_by(
        [("ts", "ascending"), ("event_id", "ascending")]
    )
    rows = table.select(["asset", "ts", "side", "price", "qty_coin", "notional_usd", "event_id"]).to_pylist()
    for row in rows:
        row["ts"] = int(row["ts"].timestamp() * 1000)
        row["symbol"] = venue_symbol(venue, row["asset"])
    return rows


def build_tape(events: pa.Table, venue: str) -> Tape:
    """Binance: per symbol and 1000 ms window, the latest event. Bybit: per symbol and 500 ms window, all of them."""
    window = BINANCE_WINDOW_MS if venue == "binance" else BYBIT_WINDOW_MS
    groups: dict[tuple[int, str], list[dict]] = {}
    for row in _venue_events(events, venue):
        groups.setdefault((row["ts"] // window, row["symbol"]), []).append(row)
    pushes = []
    for (slot, symbol), rows in sorted(groups.items()):
        kept = rows[-1:] if venue == "binance" else rows  # rows are in time order: the last is the latest
        pushes.append(Push(push_ms=(slot + 1) * window, symbol=symbol, rows=kept))
    return Tape(pushes=pushes, due=np.array([p.push_ms for p in pushes], dtype=np.int64))


@dataclass
class Replay:
    """Simulated time for the streams: start + wall time elapsed x speed, stopping at end."""

    start_ms: int
    end_ms: int
    speed: float
    anchor: float | None = None  # monotonic wall time the replay started; None until the first connection
    generation: int = 0  # bumped on every restart, so open connections follow the new replay

    def position(self) -> int:
        if self.anchor is None:
            return self.start_ms
        return min(self.end_ms, self.start_ms + int((time.monotonic() - self.anchor) * 1000 * self.speed))

    @property
    def finished(self) -> bool:
        return self.anchor is not None and self.position() >= self.end_ms

    def describe(self) -> dict[str, Any]:
        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "speed": self.speed,
            "position_ms": self.position(),
            "started": self.anchor is not None,
            "finished": self.finished,
            "generation": self.generation,
        }


@dataclass
class Connection:
    conn_id: str
    venue: str
    path: str
    opened_at_ms: int  # replay position when it connected
    subscriptions: list[str] = field(default_factory=list)
    closed_at_ms: int | None = None
    close_reason: str | None = None
    ws: web.WebSocketResponse | None = None


@dataclass
class StreamHub:
    """The replay, each venue's tape, the open connections and the log of everything sent."""

    state: SandboxState
    replay: Replay
    tapes: dict[str, Tape]
    connections: dict[str, Connection] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)  # conn_id, venue, push_ms, symbol, event_ids
    injected: list[dict[str, Any]] = field(default_factory=list)  # conn_id, venue, position_ms, text
    _ids: itertools.count = field(default_factory=itertools.count)

    @classmethod
    def for_state(cls, state: SandboxState) -> StreamHub:
        scenario = state.market.scenario
        start = _day_ms(scenario.start)
        end = _day_ms(scenario.end) + 86_400_000
        events = state.market.liquidation_events
        if events is None:
            raise RuntimeError("the cached market has no liquidation events; delete the sandbox cache")
        tapes = {venue: build_tape(events, venue) for venue in ("binance", "bybit")}
        return cls(state=state, replay=Replay(start, end, DEFAULT_SPEED), tapes=tapes)

    def restart(self, start_ms: int, end_ms: int, speed: float) -> Replay:
        self.replay = Replay(
            start_ms, end_ms, speed, anchor=time.monotonic(), generation=self.replay.generation + 1
        )
        return self.replay

    def open(self, venue: str, path: str) -> Connection:
        if self.replay.anchor is None:  # a replay nobody configured starts with its first listener
            self.replay.anchor = time.monotonic()
        conn = Connection(f"{venue}-{next(self._ids)}", venue, path, self.replay.position())
        self.connections[conn.conn_id] = conn
        return conn

    def outage(self, venue: str, position_ms: int):
        return self.state.market.scenario.outage_at(venue, position_ms)

    async def pump(self, conn: Connection, render) -> None:
        """Send the pushes due between the connection's cursor and the replay position, until it closes."""
        ws = conn.ws
        cursor, generation = conn.opened_at_ms, self.replay.generation
        while not ws.closed:
            replay = self.replay
            if replay.generation != generation:
                cursor, generation = replay.start_ms, replay.generation
            position = replay.position()
            outage = self.outage(conn.venue, position)
            if outage is not None:
                await self.close(conn, f"scenario outage ({outage.mode})", code=1011)
                return
            for push in self.tapes[conn.venue].between(cursor, position):
                texts = render(conn, push)
                if not texts:  # not subscribed to this symbol (yet): nothing went out
                    continue
                for text in texts:
                    await ws.send_str(text)
                self.sent.append(
                    {
                        "conn_id": conn.conn_id,
                        "venue": conn.venue,
                        "push_ms": push.push_ms,
                        "symbol": push.symbol,
                        "event_ids": [r["event_id"] for r in push.rows],
                    }
                )
            cursor = max(cursor, position)
            await asyncio.sleep(TICK_S)

    async def close(self, conn: Connection, reason: str, code: int = 1001) -> None:
        if conn.closed_at_ms is None:
            conn.closed_at_ms, conn.close_reason = self.replay.position(), reason
        if conn.ws is not None and not conn.ws.closed:
            await conn.ws.close(code=code, message=reason.encode()[:120])

    def sent_for(self, venue: str) -> list[dict[str, Any]]:
        return [s for s in self.sent if s["venue"] == venue]


def _day_ms(day) -> int:
    from pipelines.lib.timeutil import day_start_ms

    return day_start_ms(day)


def hub_of(request: web.Request) -> StreamHub:
    return getattr(request.app[STATE_KEY], HUB_ATTR)


# -- Binance ----------------------------------------------------------------------------------------------------


def _binance_payload(push: Push) -> dict[str, Any]:
    row = push.rows[0]
    qty, price = fmt_number(row["qty_coin"]), fmt_number(row["price"])
    return {
        "e": "forceOrder",
        "E": push.push_ms,
        "o": {
            "s": push.symbol,
            "S": "SELL" if row["side"] == "long" else "BUY",  # the liquidation order closes the position
            "o": "LIMIT",
            "f": "IOC",
            "q": qty,
            "p": price,
            "ap": price,
            "X": "FILLED",
            "l": qty,
            "z": qty,
            "T": row["ts"],
        },
    }


def _binance_streams_for(conn: Connection, symbol: str) -> list[str]:
    own = f"{symbol.lower()}@forceOrder"
    return [s for s in conn.subscriptions if s in (BINANCE_ALL, own)]


def _binance_render(combined: bool):
    def render(conn: Connection, push: Push) -> list[str]:
        payload = _binance_payload(push)
        return [
            json.dumps({"stream": stream, "data": payload} if combined else payload)
            for stream in _binance_streams_for(conn, push.symbol)
        ]

    return render


def _valid_binance_stream(name: str) -> bool:
    return name == BINANCE_ALL or (name.endswith("@forceOrder") and name[: -len("@forceOrder")].islower())


async def _binance_ws(request: web.Request, streams: list[str], *, combined: bool, routed: bool):
    hub = hub_of(request)
    if hub.outage("binance", hub.replay.position()) is not None:
        return web.Response(status=503, text="Service Unavailable")
    ws = web.WebSocketResponse(heartbeat=180)  # Binance pings every 3 minutes
    await ws.prepare(request)
    conn = hub.open("binance", request.path_qs)
    conn.ws = ws
    conn.subscriptions = [s for s in streams if s]
    # unrouted URLs accept market streams but never push them (the 2026 /public, /market split)
    render = _binance_render(combined) if routed else (lambda conn, push: [])
    pump = asyncio.create_task(hub.pump(conn, render))
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            await ws.send_str(json.dumps(_binance_method(conn, msg.data)))
    finally:
        pump.cancel()
        await hub.close(conn, "client closed")
    return ws


def _binance_method(conn: Connection, text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        return {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}
    req_id, method, params = body.get("id"), body.get("method"), body.get("params", [])
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": list(conn.subscriptions), "id": req_id}
    if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
        return {"error": {"code": 2, "msg": "Invalid request"}, "id": req_id}
    if not all(isinstance(p, str) and _valid_binance_stream(p) for p in params):
        return {"error": {"code": 1, "msg": "Invalid value type: expected stream names"}, "id": req_id}
    if method == "SUBSCRIBE":
        conn.subscriptions += [p for p in params if p not in conn.subscriptions]
    else:
        conn.subscriptions = [s for s in conn.subscriptions if s not in params]
    return {"result": None, "id": req_id}


def _binance_raw_route(routed: bool):
    async def route(request: web.Request):
        return await _binance_ws(request, [request.match_info["stream"]], combined=False, routed=routed)

    return route


def _binance_bare_route(routed: bool):
    async def route(request: web.Request):
        return await _binance_ws(request, [], combined=False, routed=routed)

    return route


def _binance_combined_route(routed: bool):
    async def route(request: web.Request):
        streams = request.query.get("streams", "").split("/")
        return await _binance_ws(request, streams, combined=True, routed=routed)

    return route


# -- Bybit ------------------------------------------------------------------------------------------------------


def _bybit_render(conn: Connection, push: Push) -> list[str]:
    topic = f"allLiquidation.{push.symbol}"
    if topic not in conn.subscriptions:
        return []
    data = [
        {
            "T": r["ts"],
            "s": push.symbol,
            "S": "Buy" if r["side"] == "long" else "Sell",  # Bybit names the liquidated position's side
            "v": fmt_number(r["qty_coin"]),
            "p": fmt_number(r["price"]),
        }
        for r in push.rows
    ]
    return [json.dumps({"topic": topic, "type": "snapshot", "ts": push.push_ms, "data": data})]


async def _bybit_ws(request: web.Request):
    hub = hub_of(request)
    if hub.outage("bybit", hub.replay.position()) is not None:
        return web.Response(status=503, text="Service Unavailable")
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    conn = hub.open("bybit", request.path_qs)
    conn.ws = ws
    wire_id = str(uuid.uuid4())
    pump = asyncio.create_task(hub.pump(conn, _bybit_render))
    try:
        while not ws.closed:
            try:
                msg = await ws.receive(timeout=BYBIT_IDLE_CUT_S)
            except TimeoutError:
                await hub.close(conn, "no ping for 10 minutes")
                break
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(json.dumps(_bybit_op(conn, wire_id, msg.data)))
    finally:
        pump.cancel()
        await hub.close(conn, "client closed")
    return ws


def _bybit_op(conn: Connection, wire_id: str, text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        body = {}
    op, args, req_id = body.get("op"), body.get("args") or [], body.get("req_id", "")
    reply = {"success": True, "ret_msg": "", "conn_id": wire_id, "req_id": req_id, "op": op}
    if op == "ping":
        return reply | {"ret_msg": "pong"}
    if op in ("subscribe", "unsubscribe") and isinstance(args, list):
        bad = [a for a in args if not (isinstance(a, str) and a.startswith("allLiquidation."))]
        if bad:
            return reply | {"success": False, "ret_msg": f"error:handler not found,topic:{bad[0]}"}
        if op == "subscribe":
            conn.subscriptions += [a for a in args if a not in conn.subscriptions]
        else:
            conn.subscriptions = [s for s in conn.subscriptions if s not in args]
        return reply | {"ret_msg": op}
    return reply | {"success": False, "ret_msg": f"error:unknown op {op!r}", "op": op or ""}


# -- control ----------------------------------------------------------------------------------------------------


async def _replay_get(request: web.Request) -> web.Response:
    return web.json_response(hub_of(request).replay.describe())


async def _replay_post(request: web.Request) -> web.Response:
    """Restart the replay now: {start_ms, end_ms, speed}, each optional (the scenario's span, DEFAULT_SPEED)."""
    hub = hub_of(request)
    body = await request.json() if request.can_read_body else {}
    scenario = hub.state.market.scenario
    try:
        start = int(body.get("start_ms", _day_ms(scenario.start)))
        end = int(body.get("end_ms", _day_ms(scenario.end) + 86_400_000))
        speed = float(body.get("speed", DEFAULT_SPEED))
    except (TypeError, ValueError) as exc:
        return web.json_response({"error": f"bad replay parameters: {exc}"}, status=400)
    if end <= start or speed <= 0:
        return web.json_response({"error": "need start_ms < end_ms and speed > 0"}, status=400)
    return web.json_response(hub.restart(start, end, speed).describe())


async def _disconnect(request: web.Request) -> web.Response:
    """Close every open stream connection of a venue from the server side: {"venue": "bybit"}."""
    hub = hub_of(request)
    venue = (await request.json()).get("venue")
    open_conns = [c for c in hub.connections.values() if c.venue == venue and c.closed_at_ms is None]
    for conn in open_conns:
        await hub.close(conn, "closed by the sandbox", code=1001)
    return web.json_response({"closed": [c.conn_id for c in open_conns]})


async def _inject(request: web.Request) -> web.Response:
    """Fault hook: send {"text": ...} as is to every open connection of {"venue": ...}: a message the real venue
    would never send (a missing field, a list for an object), so tests can see the recorder survive it."""
    hub = hub_of(request)
    body = await request.json()
    venue, text = body.get("venue"), body.get("text")
    if venue not in hub.tapes or not isinstance(text, str):
        return web.json_response({"error": "need venue (binance|bybit) and text (a string)"}, status=400)
    sent = []
    for conn in [c for c in hub.connections.values() if c.venue == venue and c.closed_at_ms is None]:
        if conn.ws is not None and not conn.ws.closed:
            await conn.ws.send_str(text)
            hub.injected.append(
                {"conn_id": conn.conn_id, "venue": venue, "position_ms": hub.replay.position(), "text": text}
            )
            sent.append(conn.conn_id)
    return web.json_response({"sent": sent})


def mount(root: web.Application, state: SandboxState) -> None:
    """Add the websocket routes and the replay control endpoints to the sandbox's root app."""
    setattr(state, HUB_ATTR, StreamHub.for_state(state))
    for routed, prefix in (
        (True, "/binance-ws/market"),
        (False, "/binance-ws"),
        (False, "/binance-ws/public"),
    ):
        root.router.add_get(f"{prefix}/ws", _binance_bare_route(routed))  # streams come by SUBSCRIBE
        root.router.add_get(f"{prefix}/ws/{{stream}}", _binance_raw_route(routed))
        root.router.add_get(f"{prefix}/stream", _binance_combined_route(routed))
    root.router.add_get("/bybit-ws/v5/public/linear", _bybit_ws)
    root.router.add_get("/_sandbox/replay", _replay_get)
    root.router.add_post("/_sandbox/replay", _replay_post)
    root.router.add_post("/_sandbox/streams/disconnect", _disconnect)
    root.router.add_post("/_sandbox/streams/inject", _inject)
