"""The long-running liquidation recorder: one websocket per venue, buffered events flushed to the landing area.

- Binance: `!forceOrder@arr` on the /market route (kept: configured symbols). The server pings every 3 min and
  aiohttp answers; our own heartbeat pings catch a dead peer, and a LIST_SUBSCRIPTIONS request every
  `app_ping_s` is the heartbeat whose reply proves the stream is heard.
- Bybit: `allLiquidation.<symbol>` for each configured symbol, `{"op":"ping"}` every `app_ping_s` (20 s).
- A message the recorder cannot take (bad JSON, a missing field, a list where an object belongs, anything a parser
  raises) is logged, counted and written whole to landing/<venue>/dead_letter/; the stream goes on.
- Any error in a venue's connection loop drops the connection and reconnects with capped exponential backoff and
  jitter, then resubscribes; the time between losing it and being subscribed again is a gap row. A restart logs a
  gap from the previous recorder's last vouched-for stream time (landing metadata) to its own first subscription.
- Buffers are flushed every `flush_seconds` and on shutdown. Acknowledged = in a landing file; a kill -9 loses at
  most the unflushed buffer, which the restart gap then covers. A failed flush keeps its rows for the next one
  under new file names, so a half-done flush is never retried into a name it already used. The buffer is bounded
  (`max_buffered_events`): past it the recorder stops with RecorderOverflow instead of growing without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field

import aiohttp

from pipelines.lake_origin import require_live_home
from pipelines.lib.clock import WALL_CLOCK, AsyncNow, awaitable
from pipelines.recorder.landing import EVENTS, GAPS, Landing
from pipelines.recorder.streams import (
    PARSERS,
    STREAM_VENUES,
    StreamParseError,
    configured_symbols,
    message_time_ms,
)

log = logging.getLogger("levwatch.recorder")

STREAM_NAMES = {"binance": "!forceOrder@arr", "bybit": "allLiquidation"}
# The stream's "now" in epoch ms (an AsyncNow: the recorder is asyncio code): live, the wall clock
WALL_NOW: AsyncNow = awaitable(WALL_CLOCK)


class ReplayPosition:
    """The stream's "now" in the sandbox: the liquidation replay's position, read from `GET /_sandbox/replay`
    (extrapolated at the replay's speed if it stops answering).

    Not the sandbox's market clock (`/_sandbox/health`'s clock_ms, the pipeline's Clock in sandbox mode): that
    one stands where its driver put it, while a stream replay walks its own [start, end) at `speed` times wall
    time (about a simulated day per second), and the recorder's gap rows and vouched-for stream time are in
    that replayed time."""

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
    venues: tuple[str, ...] = STREAM_VENUES
    flush_seconds: float = 60.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    subscribe_timeout_s: float = 10.0
    heartbeat_s: float = 60.0  # websocket-level pings: a dead peer is noticed within heartbeat_s * 1.5
    app_ping_s: float = 20.0  # Bybit {"op":"ping"} (it cuts at 10 min idle), Binance LIST_SUBSCRIPTIONS
    max_buffered_events: int = 500_000  # per venue: past this (flushes failing) the recorder stops loudly
    until_ms: int | None = None  # stop once the clock reaches this (stream time)
    drain_s: float = 1.0  # after until_ms, keep reading this long (wall seconds) before the final flush

    def __post_init__(self) -> None:
        unknown = [v for v in self.venues if v not in STREAM_VENUES]
        if unknown or not self.venues:
            raise ValueError(
                f"recorder venues must be among {', '.join(STREAM_VENUES)}, got {list(self.venues)}"
            )
        if self.flush_seconds <= 0:
            raise ValueError(f"flush_seconds must be > 0, got {self.flush_seconds}")
        if self.max_buffered_events <= 0:
            raise ValueError(f"max_buffered_events must be > 0, got {self.max_buffered_events}")


class RecorderOverflow(RuntimeError):
    """A venue's unflushed buffer outgrew max_buffered_events: the landing area has been refusing writes."""


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
    heard_at_ms: int | None = None  # wall time of the last message of any kind from the venue
    event_at_ms: int | None = None  # wall time of the last message that carried liquidation events
    dead_letters: int = 0  # messages that could not be taken (each in a dead-letter file, or logged)
    failed_flushes: int = 0


class Recorder:
    def __init__(
        self,
        landing: Landing,
        ws_urls: dict[str, str],
        *,
        config: RecorderConfig | None = None,
        clock: AsyncNow = WALL_NOW,
        recorder_id: str | None = None,
    ):
        self.landing, self.ws_urls, self.clock = landing, ws_urls, clock
        self.config = config or RecorderConfig()
        self.recorder_id = recorder_id or new_recorder_id()
        self.buffers = {venue: VenueBuffer() for venue in self.config.venues}
        self._stop = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self.failure: BaseException | None = None  # why the recorder stopped itself, raised by run()

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
            tasks = [asyncio.create_task(self._venue_task(session, venue)) for venue in self.config.venues]
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
        if self.failure is not None:
            raise self.failure
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
            try:
                await self.flush()
            except Exception:  # flush keeps its own rows on failure; this loop must outlive any surprise
                log.exception("flush failed unexpectedly; retrying at the next interval")

    async def flush(self, final: bool = False) -> None:
        """Write each venue's buffer as one landing file (even when empty: it says what was heard, and when)."""
        async with self._flush_lock:
            for venue, buf in self.buffers.items():
                await self._flush_venue(venue, buf, final)

    async def _flush_venue(self, venue: str, buf: VenueBuffer, final: bool) -> None:
        rows, gaps = buf.rows, list(buf.gaps)
        if final and buf.open_gap is not None:
            gaps.append(buf.open_gap)  # still disconnected: the gap stays open (no end)
        buf.rows, buf.gaps = [], []
        coverage = (buf.covered_from_ms, buf.covered_until_ms)
        heard = (buf.heard_at_ms, buf.event_at_ms)
        # every attempt takes a fresh sequence number: a retry never meets a file its failed attempt left behind
        seq, buf.seq = buf.seq, buf.seq + 1
        gaps_landed = not gaps
        try:
            if gaps:
                await self._land(venue, GAPS, seq, gaps)
                gaps_landed = True
            await self._land(venue, EVENTS, seq, rows, coverage, heard)
        except Exception as exc:
            buf.failed_flushes += 1
            buf.rows[:0] = rows
            if not gaps_landed:
                buf.gaps[:0] = [g for g in gaps if g is not buf.open_gap]
            log.error(
                "%s: landing write failed (%s: %s); keeping %d events%s for the next flush (%d failed so far)",
                venue,
                type(exc).__name__,
                exc,
                len(buf.rows),
                "" if gaps_landed else f" and {len(gaps)} gaps",
                buf.failed_flushes,
            )
            return
        buf.events += len(rows)
        buf.covered_from_ms = coverage[1]
        if rows or gaps:
            log.info("%s: landed %d events, %d gaps (total %d)", venue, len(rows), len(gaps), buf.events)

    async def _land(self, venue: str, dataset: str, seq: int, rows: list[dict], *meta) -> None:
        try:
            await asyncio.to_thread(self.landing.write, venue, dataset, self.recorder_id, seq, rows, *meta)
        except Exception:
            # an error after the rename (the directory fsync) still leaves a whole file in place: it counts
            if not self.landing.path(venue, dataset, self.recorder_id, seq).exists():
                raise
            log.warning(
                "%s: %s file %d is in place despite a write error", venue, dataset, seq, exc_info=True
            )

    # -- one venue's connection --------------------------------------------------------------------------------

    def _url(self, venue: str) -> str:
        base = self.ws_urls[venue].rstrip("/")
        return f"{base}/market/ws" if venue == "binance" else f"{base}/v5/public/linear"

    async def _venue_task(self, session: aiohttp.ClientSession, venue: str) -> None:
        """The venue's connection loop, restarted should anything ever escape it: a stream never ends silently."""
        while not self._stop.is_set():
            try:
                await self._venue_loop(session, venue)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: the connection loop failed; restarting it", venue)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.config.backoff_max_s)

    async def _venue_loop(self, session: aiohttp.ClientSession, venue: str) -> None:
        attempt, first = 0, True
        while not self._stop.is_set():
            reason = None
            try:
                async with session.ws_connect(self._url(venue), heartbeat=self.config.heartbeat_s) as ws:
                    await self._subscribe(ws, venue)
                    now = await self.clock()
                    self._connected(venue, now, first)
                    if first:
                        # land at once: a recorder killed before its first periodic flush still tells its
                        # successor where its stream time began, so the restart gap covers what it heard
                        async with self._flush_lock:
                            await self._flush_venue(venue, self.buffers[venue], final=False)
                    first, attempt = False, 0
                    await self._read(ws, venue)
                    reason = f"closed by the venue (code {ws.close_code})"
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, OSError, SubscribeError) as exc:
                reason = f"{type(exc).__name__}: {exc}"[:300]
            except Exception as exc:  # anything else: reconnect all the same, and say what it was
                log.exception("%s: unexpected error on the connection", venue)
                reason = f"unexpected {type(exc).__name__}: {exc}"[:300]
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
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                raise SubscribeError(f"{venue}: connection ended while subscribing ({msg.type.name})")
            body = _json_object(msg.data) if msg.type == aiohttp.WSMsgType.TEXT else None
            if venue == "binance" and body is not None and body.get("id") == 1:
                self._heard(venue)
                if "error" in body:
                    raise SubscribeError(f"binance refused the subscription: {body['error']}")
                return
            if venue == "bybit" and body is not None and body.get("op") == "subscribe":
                self._heard(venue)
                if not body.get("success"):
                    raise SubscribeError(f"bybit refused the subscription: {body.get('ret_msg')}")
                return
            self.on_message(venue, msg.data)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, venue: str) -> None:
        pinger = asyncio.create_task(self._app_pings(ws, venue))
        try:
            async for msg in ws:
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self.on_message(venue, msg.data)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    break
        finally:
            pinger.cancel()

    async def _app_pings(self, ws: aiohttp.ClientWebSocketResponse, venue: str) -> None:
        """Application heartbeats: their replies are messages heard, so a quiet stream still shows it is alive."""
        request_id = 1
        with contextlib.suppress(
            ConnectionError, RuntimeError, aiohttp.ClientError
        ):  # closing: the reader sees it
            while not ws.closed:
                await asyncio.sleep(self.config.app_ping_s)
                if venue == "bybit":
                    await ws.send_str(json.dumps({"op": "ping"}))
                else:
                    request_id += 1
                    await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": request_id}))

    def _heard(self, venue: str) -> int:
        now = int(time.time() * 1000)
        self.buffers[venue].heard_at_ms = now
        return now

    def on_message(self, venue: str, data: str | bytes) -> None:
        """Take one message from the venue. Whatever it holds, it never ends the stream: a message that cannot be
        taken is logged, counted and written whole to the dead-letter folder."""
        now = self._heard(venue)
        buf = self.buffers[venue]
        try:
            if isinstance(data, bytes):
                raise StreamParseError("a binary frame where JSON text was expected")
            body = json.loads(data)
            rows = PARSERS[venue](body)
            pushed = message_time_ms(venue, body)
        except Exception as exc:
            self._dead_letter(venue, data, exc, now)
            return
        if rows:
            buf.rows.extend(rows)
            buf.event_at_ms = now
            if len(buf.rows) > self.config.max_buffered_events and self.failure is None:
                self._overflow(venue, buf)
        if pushed is not None:  # pushes arrive in time order; only a rewound sandbox replay goes backwards
            buf.covered_until_ms = pushed

    def _dead_letter(self, venue: str, data: str | bytes, exc: Exception, now: int) -> None:
        buf = self.buffers[venue]
        buf.dead_letters += 1
        error = f"{type(exc).__name__}: {exc}"[:1000]
        try:
            path = self.landing.write_dead_letter(venue, self.recorder_id, buf.dead_letters, data, error, now)
        except Exception:
            log.exception(
                "%s: could not write dead letter %d (%s); the message was: %r",
                venue,
                buf.dead_letters,
                error,
                data,
            )
            return
        log.error("%s: dead-lettered a message it could not take (%s) -> %s", venue, error, path)

    def _overflow(self, venue: str, buf: VenueBuffer) -> None:
        self.failure = RecorderOverflow(
            f"{venue}: {len(buf.rows)} events are buffered, over max_buffered_events="
            f"{self.config.max_buffered_events}, after {buf.failed_flushes} failed flushes: the landing area "
            f"{self.landing.root} is refusing writes (disk full? permissions?). Stopping; the final flush tries "
            "once more, and the next start records the time until then as a gap."
        )
        log.critical("%s", self.failure)
        self.stop()


class SubscribeError(RuntimeError):
    pass


def _json_object(data: str) -> dict | None:
    try:
        body = json.loads(data)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def sandbox_url_for(ws_url: str) -> str:
    """ws://host:port/<venue>-ws -> http://host:port: where a sandbox serving that stream keeps its replay clock."""
    scheme, rest = ws_url.split("://", 1)
    return ("https" if scheme == "wss" else "http") + "://" + rest.split("/", 1)[0]


def sandbox_ws_url(sandbox_url: str, venue: str) -> str:
    """http://host:port -> ws://host:port/<venue>-ws: where a sandbox serves that venue's liquidation stream."""
    scheme, rest = sandbox_url.rstrip("/").split("://", 1)
    return ("wss" if scheme == "https" else "ws") + f"://{rest}/{venue}-ws"


def record_liquidations(
    *,
    venues: tuple[str, ...] = STREAM_VENUES,
    flush_seconds: float = 60.0,
    until_ms: int | None = None,
    settings=None,
) -> int:
    """`levwatch record liquidations`: live venues, or the sandbox's replay (LEVWATCH_SOURCE=sandbox)."""
    from pipelines.settings import NO_SANDBOX_URL, SettingsError, load_settings

    settings = settings or load_settings()
    ws_urls = {venue: settings.ws_url(venue) for venue in venues}
    clock: AsyncNow = WALL_NOW
    config = RecorderConfig(
        venues=venues,
        flush_seconds=flush_seconds,
        until_ms=until_ms,
        max_buffered_events=settings.recorder_max_buffered_events,
    )
    if settings.source == "sandbox":  # a running sandbox serves the streams: the recorder never starts one
        if all(settings.ws_url_overridden(v) for v in venues):
            sandbox_url = sandbox_url_for(ws_urls[venues[0]])
        elif settings.sandbox_url:
            sandbox_url = settings.sandbox_url
            ws_urls = {venue: sandbox_ws_url(sandbox_url, venue) for venue in venues}
        else:
            raise SettingsError(NO_SANDBOX_URL)
        clock = ReplayPosition(sandbox_url)
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

    try:
        asyncio.run(main())
    except RecorderOverflow as exc:
        print(f"levwatch record liquidations: {exc}", file=sys.stderr)
        return 1
    return 0


def _replay_end(sandbox_url: str) -> int:
    import httpx

    return int(httpx.get(f"{sandbox_url}/_sandbox/replay", timeout=10).json()["end_ms"])
