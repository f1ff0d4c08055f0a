"""The long-running liquidation recorder: one websocket per venue, buffered events flushed to the landing area.

- Binance: `!forceOrder@arr` on the /market route (kept: configured symbols). The server pings every 3 min and
  aiohttp answers; our own heartbeat pings catch a dead peer.
- Bybit: `allLiquidation.<symbol>` for each configured symbol, `{"op":"ping"}` every 20 s.
- A dropped connection is retried with capped exponential backoff and jitter, then resubscribed; the time between
  losing it and being subscribed again is a gap row. A restart logs a gap from the previous recorder's last
  vouched-for stream time (landing metadata) to its own first subscription.
- Buffers are flushed every `flush_seconds` and on shutdown. Acknowledged = in a landing file; a kill -9 loses at
  most the unflushed buffer, which the restart gap then covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from pipelines.lake_origin import require_live_home
from pipelines.recorder.landing import EVENTS, GAPS, Landing
from pipelines.recorder.streams import PARSERS, StreamParseError, configured_symbols, message_time_ms

log = logging.getLogger("levwatch.recorder")

Clock = Callable[
    [], Awaitable[int]
]  # the stream's "now" in epoch ms: wall time live, replay time in the sandbox
STREAM_NAMES = {"binance": "!forceOrder@arr", "bybit": "allLiquidation"}
VENUES = tuple(STREAM_NAMES)


async def wall_clock() -> int:
    return int(time.time() * 1000)


class ReplayClock:
    """The sandbox replay's position, read from its control endpoint (extrapolated if it stops answering)."""

    def __init__(self, sandbox_url: str):
        self.url = sandbox_url.rstrip("/") + "/_sandbox/replay"
        self._last: tuple[float, dict] | None = None

    async def __call__(self) -> int:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(self.url, timeout=aiohttp.ClientTimeout(total=5)) as resp,
            ):
                body = await resp.json()
            self._last = (time.monotonic(), body)
            return int(body["position_ms"])
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
            if self._last is None:
                raise
            seen_at, body = self._last
            moved = (time.monotonic() - seen_at) * 1000 * float(body["speed"]) if body["started"] else 0
            return min(int(body["end_ms"]), int(body["position_ms"] + moved))


@dataclass
class RecorderConfig:
    venues: tuple[str, ...] = VENUES
    flush_seconds: float = 60.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    subscribe_timeout_s: float = 10.0
    bybit_ping_s: float = 20.0  # Bybit: ping every 20 s, cut after 10 min idle
    heartbeat_s: float = 60.0  # websocket-level pings: a dead peer is noticed within heartbeat_s * 1.5
    until_ms: int | None = None  # stop once the clock reaches this (stream time)
    drain_s: float = 1.0  # after until_ms, keep reading this long (wall seconds) before the final flush

    def __post_init__(self) -> None:
        unknown = [v for v in self.venues if v not in VENUES]
        if unknown or not self.venues:
            raise ValueError(f"recorder venues must be among {', '.join(VENUES)}, got {list(self.venues)}")
        if self.flush_seconds <= 0:
            raise ValueError(f"flush_seconds must be > 0, got {self.flush_seconds}")


def new_recorder_id() -> str:
    """Sortable by start time, unique across hosts and restarts."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-p{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class VenueBuffer:
    rows: list[dict] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)
    seq: int = 0
    covered_from_ms: int | None = None  # start of the stream time the next file vouches for
    covered_until_ms: int | None = None  # newest push time received (or the subscription time)
    connected: bool = False
    open_gap: dict | None = None  # a disconnect not yet resolved
    events: int = 0  # events landed so far, for the log


class Recorder:
    def __init__(
        self,
        landing: Landing,
        ws_urls: dict[str, str],
        *,
        config: RecorderConfig | None = None,
        clock: Clock = wall_clock,
        recorder_id: str | None = None,
    ):
        self.landing, self.ws_urls, self.clock = landing, ws_urls, clock
        self.config = config or RecorderConfig()
        self.recorder_id = recorder_id or new_recorder_id()
        self.buffers = {venue: VenueBuffer() for venue in self.config.venues}
        self._stop = asyncio.Event()
        self._flush_lock = asyncio.Lock()

    def stop(self) -> None:
        self._stop.set()

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def run(self) -> None:
        log.info(
            "recorder %s: venues %s, flush every %ss",
            self.recorder_id,
            ",".join(self.config.venues),
            self.config.flush_seconds,
        )
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.create_task(self._venue_loop(session, venue)) for venue in self.config.venues]
            tasks.append(asyncio.create_task(self._flush_loop()))
            if self.config.until_ms is not None:
                tasks.append(asyncio.create_task(self._until_loop(self.config.until_ms)))
            try:
                await self._stop.wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self.flush(final=True)
        log.info("recorder %s stopped", self.recorder_id)

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)

    async def _until_loop(self, until_ms: int) -> None:
        while await self.clock() < until_ms:
            await asyncio.sleep(0.2)
        await asyncio.sleep(self.config.drain_s)  # pushes due up to until_ms may still be on the wire
        log.info("stream time reached %s: stopping", until_ms)
        self.stop()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_seconds)
            await self.flush()

    async def flush(self, final: bool = False) -> None:
        """Write each venue's buffer as one landing file (even when empty: it proves the recorder is alive)."""
        async with self._flush_lock:
            for venue, buf in self.buffers.items():
                rows, gaps = buf.rows, list(buf.gaps)
                if final and buf.open_gap is not None:
                    gaps.append(buf.open_gap)  # still disconnected: the gap stays open (no end)
                buf.rows, buf.gaps = [], []
                coverage = (buf.covered_from_ms, buf.covered_until_ms)
                try:
                    if gaps:
                        await asyncio.to_thread(
                            self.landing.write, venue, GAPS, self.recorder_id, buf.seq, gaps
                        )
                    await asyncio.to_thread(
                        self.landing.write, venue, EVENTS, self.recorder_id, buf.seq, rows, coverage
                    )
                except Exception:
                    log.exception(
                        "%s: landing write failed; keeping %d events for the next flush", venue, len(rows)
                    )
                    buf.rows[:0], buf.gaps[:0] = rows, [g for g in gaps if g is not buf.open_gap]
                    continue
                buf.seq += 1
                buf.events += len(rows)
                buf.covered_from_ms = buf.covered_until_ms
                if rows or gaps:
                    log.info(
                        "%s: landed %d events, %d gaps (total %d)", venue, len(rows), len(gaps), buf.events
                    )

    # -- one venue's connection --------------------------------------------------------------------------------

    def _url(self, venue: str) -> str:
        base = self.ws_urls[venue].rstrip("/")
        return f"{base}/market/ws" if venue == "binance" else f"{base}/v5/public/linear"

    async def _venue_loop(self, session: aiohttp.ClientSession, venue: str) -> None:
        attempt, first = 0, True
        while not self._stop.is_set():
            reason = None
            try:
                async with session.ws_connect(self._url(venue), heartbeat=self.config.heartbeat_s) as ws:
                    await self._subscribe(ws, venue)
                    now = await self.clock()
                    self._connected(venue, now, first)
                    first, attempt = False, 0
                    await self._read(ws, venue)
                    reason = f"closed by the venue (code {ws.close_code})"
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, OSError, SubscribeError) as exc:
                reason = f"{type(exc).__name__}: {exc}"[:300]
            if self._stop.is_set():
                return
            await self._disconnected(venue, reason)
            attempt += 1
            delay = min(self.config.backoff_max_s, self.config.backoff_initial_s * 2 ** (attempt - 1))
            delay *= random.uniform(0.5, 1.0)  # jitter: many recorders must not reconnect in lockstep
            log.warning("%s: disconnected (%s); reconnecting in %.2fs", venue, reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    def _connected(self, venue: str, now: int, first: bool) -> None:
        buf = self.buffers[venue]
        if buf.open_gap is not None:
            buf.open_gap["gap_end"] = now
            buf.gaps.append(buf.open_gap)
            buf.open_gap = None
        elif first:
            previous = self.landing.last_covered_until(venue, other_than=self.recorder_id)
            if previous is not None and previous < now:
                buf.gaps.append(self._gap(venue, previous, now, "recorder not running (restart)"))
        buf.connected = True
        buf.covered_until_ms = now
        if buf.covered_from_ms is None:
            buf.covered_from_ms = now
        log.info("%s: subscribed", venue)

    async def _disconnected(self, venue: str, reason: str | None) -> None:
        buf = self.buffers[venue]
        if buf.connected:
            # the gap starts at the last push we hold: later ones may have died with the connection
            buf.connected = False
            start = buf.covered_until_ms if buf.covered_until_ms is not None else await self.clock()
            buf.open_gap = self._gap(venue, start, None, reason)

    def _gap(self, venue: str, start: int, end: int | None, reason: str | None) -> dict:
        return {
            "venue": venue,
            "stream": STREAM_NAMES[venue],
            "gap_start": start,
            "gap_end": end,
            "reason": reason,
            "recorder_id": self.recorder_id,
        }

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse, venue: str) -> None:
        """Send the subscription and wait for its ack; pushes arriving meanwhile are kept."""
        if venue == "binance":
            request = {"method": "SUBSCRIBE", "params": [STREAM_NAMES["binance"]], "id": 1}
        else:
            topics = [f"allLiquidation.{s}" for s in configured_symbols("bybit")]
            request = {"op": "subscribe", "args": topics, "req_id": "levwatch"}
        await ws.send_str(json.dumps(request))
        deadline = time.monotonic() + self.config.subscribe_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SubscribeError(
                    f"{venue}: no subscription ack within {self.config.subscribe_timeout_s}s"
                )
            msg = await ws.receive(timeout=remaining)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise SubscribeError(f"{venue}: connection ended while subscribing ({msg.type.name})")
            body = json.loads(msg.data)
            if venue == "binance" and body.get("id") == 1:
                if "error" in body:
                    raise SubscribeError(f"binance refused the subscription: {body['error']}")
                return
            if venue == "bybit" and body.get("op") == "subscribe":
                if not body.get("success"):
                    raise SubscribeError(f"bybit refused the subscription: {body.get('ret_msg')}")
                return
            self._take(venue, body)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, venue: str) -> None:
        pinger = asyncio.create_task(self._bybit_pings(ws)) if venue == "bybit" else None
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    try:
                        self._take(venue, json.loads(msg.data))
                    except (ValueError, StreamParseError) as exc:
                        log.error("%s: skipped a malformed message: %s", venue, exc)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    break
        finally:
            if pinger:
                pinger.cancel()

    async def _bybit_pings(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.config.bybit_ping_s)
            await ws.send_str(json.dumps({"op": "ping"}))

    def _take(self, venue: str, body: dict) -> None:
        rows = PARSERS[venue](body)
        buf = self.buffers[venue]
        buf.rows.extend(rows)
        pushed = message_time_ms(venue, body)
        if pushed is not None:  # pushes arrive in time order; only a rewound sandbox replay goes backwards
            buf.covered_until_ms = pushed


class SubscribeError(RuntimeError):
    pass


def sandbox_url_for(ws_url: str) -> str:
    """ws://host:port/<venue>-ws -> http://host:port: where a sandbox serving that stream keeps its replay clock."""
    scheme, rest = ws_url.split("://", 1)
    return ("https" if scheme == "wss" else "http") + "://" + rest.split("/", 1)[0]


def record_liquidations(
    *,
    venues: tuple[str, ...] = VENUES,
    flush_seconds: float = 60.0,
    until_ms: int | None = None,
    settings=None,
) -> int:
    """`levwatch record liquidations`: live venues, or the sandbox's replay (LEVWATCH_SOURCE=sandbox)."""
    from pipelines.settings import load_settings

    settings = settings or load_settings()
    ws_urls = {venue: settings.ws_url(venue) for venue in venues}
    clock: Clock = wall_clock
    config = RecorderConfig(venues=venues, flush_seconds=flush_seconds, until_ms=until_ms)
    if settings.source == "sandbox":
        if all(settings.ws_url_overridden(v) for v in venues):
            sandbox_url = sandbox_url_for(ws_urls[venues[0]])  # a sandbox already serving the streams
        else:
            from pipelines.sandbox.server import in_process_sandbox

            server = in_process_sandbox(settings.home, settings.sandbox_scenario)
            ws_urls = {venue: server.ws_url(venue) for venue in venues}
            sandbox_url = server.url
        clock = ReplayClock(sandbox_url)
        # replayed time moves ~1e5 times faster than the wall (a simulated day per second): a 10 ms wait is
        # already ~15 simulated minutes, so reconnect at once or a venue outage turns into hours of gap
        config.backoff_initial_s, config.backoff_max_s = 0.002, 0.01
        if config.until_ms is None:
            config.until_ms = _replay_end(sandbox_url)
    else:
        require_live_home(settings.home)
    recorder = Recorder(Landing.under(settings.home), ws_urls, config=config, clock=clock)

    async def main() -> None:
        recorder.install_signal_handlers()
        await recorder.run()

    asyncio.run(main())
    return 0


def _replay_end(sandbox_url: str) -> int:
    import httpx

    return int(httpx.get(f"{sandbox_url}/_sandbox/replay", timeout=10).json()["end_ms"])
