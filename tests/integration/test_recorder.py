"""The recorder against the sandbox's replayed Binance and Bybit liquidation websockets.

Truth is the simulator's own `liquidation_events`; what the sandbox actually sent is in `state.streams.sent`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.instruments import venue_symbol
from pipelines.lake import Lake
from pipelines.lib.timeutil import days_between, iso_to_ms
from pipelines.recorder.compaction import compact_day
from pipelines.recorder.landing import EVENTS, GAPS, Landing
from pipelines.recorder.recorder import Recorder, RecorderConfig
from pipelines.sandbox.server import make_server

VENUES = ("binance", "bybit")
FAST = {"backoff_initial_s": 0.02, "backoff_max_s": 0.2}


def truth(server, venue: str, start_ms: int, end_ms: int) -> list[tuple[str, int, int]]:
    """(symbol, ts, event_id) of every simulated forced close of the venue with start <= ts < end."""
    e = server.state.market.liquidation_events
    e = e.filter(pc.equal(e["venue"], venue))
    ts = pc.cast(e["ts"], "int64").to_pylist()
    return [
        (venue_symbol(venue, a), t, i)
        for a, t, i in zip(e["asset"].to_pylist(), ts, e["event_id"].to_pylist(), strict=True)
        if start_ms <= t < end_ms
    ]


def recorded(landing: Landing, venue: str, start_ms: int = 0, end_ms: int = 2**62) -> list[tuple[str, int]]:
    """(symbol, ts) landed; a window drops what an earlier replay pushed before the test restarted it."""
    t = landing.read(venue, EVENTS)
    rows = zip(t["symbol"].to_pylist(), pc.cast(t["ts"], "int64").to_pylist(), strict=True)
    return [(s, ts) for s, ts in rows if start_ms <= ts < end_ms]


def gaps_of(landing: Landing, venue: str) -> list[dict]:
    rows = landing.read(venue, GAPS).to_pylist()
    for r in rows:
        r["gap_start"] = int(r["gap_start"].timestamp() * 1000)
        r["gap_end"] = None if r["gap_end"] is None else int(r["gap_end"].timestamp() * 1000)
    return rows


def subscribed(hub, venue: str, after: int = 0) -> bool:
    conns = [c for c in hub.connections.values() if c.venue == venue and c.closed_at_ms is None]
    return any(int(c.conn_id.split("-")[1]) >= after and c.subscriptions for c in conns)


async def wait_for(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the sandbox / recorder"
        await asyncio.sleep(0.02)


async def record_replay(
    server, home: Path, start_ms: int, end_ms: int, speed: float, during=None, recorder_cls=Recorder
) -> Recorder:
    """Connect, replay [start, end) once at `speed`, let `during` poke the stream, stop with a final flush."""
    hub = server.state.streams

    async def clock() -> int:
        return hub.replay.position()

    config = RecorderConfig(flush_seconds=0.3, **FAST)
    recorder = recorder_cls(
        Landing.under(home), {v: server.ws_url(v) for v in VENUES}, config=config, clock=clock
    )
    task = asyncio.create_task(recorder.run())
    await wait_for(lambda: all(subscribed(hub, v) for v in VENUES))
    async with httpx.AsyncClient() as client:
        await client.post(
            f"{server.url}/_sandbox/replay", json={"start_ms": start_ms, "end_ms": end_ms, "speed": speed}
        )
        if during:
            await during(client)
    await wait_for(lambda: hub.replay.finished)
    await asyncio.sleep(0.1)  # the last pushes are on loopback; let the reader take them before stopping
    recorder.stop()
    await task
    return recorder


def outside_gaps(ts: int, gaps: list[dict]) -> bool:
    return not any(g["gap_start"] <= ts <= (g["gap_end"] or 2**62) for g in gaps)


def test_replayed_streams_against_truth(sandbox, tmp_path):
    """Bybit: every event. Binance: at most one per symbol and second, the latest; all windows outside gaps."""
    start, end = (
        iso_to_ms("2025-10-10T18:00:00Z"),
        iso_to_ms("2025-10-11T00:00:00Z"),
    )  # crash + Binance outage
    asyncio.run(record_replay(sandbox, tmp_path, start, end, speed=12_000))
    landing = Landing.under(tmp_path)

    bybit_truth = {(s, t) for s, t, _ in truth(sandbox, "bybit", start, end)}
    assert bybit_truth and set(recorded(landing, "bybit", start, end)) == bybit_truth
    assert gaps_of(landing, "bybit") == []

    binance = recorded(landing, "binance", start, end)
    seconds = [(s, t // 1000) for s, t in binance]
    assert len(seconds) == len(set(seconds)), "more than one Binance liquidation per symbol per second"
    latest: dict[tuple[str, int], int] = {}
    for s, t, _ in truth(sandbox, "binance", start, end):
        latest[(s, t // 1000)] = max(latest.get((s, t // 1000), 0), t)
    assert all(latest[(s, t // 1000)] == t for s, t in binance), "a pushed event is not its window's latest"
    gaps = gaps_of(landing, "binance")
    outage_start, outage_end = iso_to_ms("2025-10-10T21:00:00Z"), iso_to_ms("2025-10-10T22:00:00Z")
    assert len(gaps) == 1 and gaps[0]["gap_start"] <= outage_start and gaps[0]["gap_end"] >= outage_end
    expected = {(s, t) for (s, _), t in latest.items() if outside_gaps((t // 1000 + 1) * 1000, gaps)}
    assert expected <= set(binance) and len(binance) < len(truth(sandbox, "binance", start, end))


def test_server_disconnect_reconnects_resubscribes_and_logs_the_gap(sandbox, tmp_path):
    start, end = iso_to_ms("2025-10-10T12:00:00Z"), iso_to_ms("2025-10-10T18:00:00Z")
    hub = sandbox.state.streams
    first_new = len(hub.connections)

    async def drop_bybit(client):
        await wait_for(lambda: hub.replay.position() > start + 2 * 3_600_000)
        closed = (
            await client.post(f"{sandbox.url}/_sandbox/streams/disconnect", json={"venue": "bybit"})
        ).json()
        assert len(closed["closed"]) == 1
        await wait_for(lambda: subscribed(hub, "bybit", after=first_new + 2))

    asyncio.run(record_replay(sandbox, tmp_path, start, end, speed=6_000, during=drop_bybit))
    landing = Landing.under(tmp_path)
    bybit_conns = [c for c in list(hub.connections.values())[first_new:] if c.venue == "bybit"]
    topics = sorted(
        f"allLiquidation.{venue_symbol('bybit', a)}" for a in ("BTC", "ETH", "SOL", "XRP", "DOGE")
    )
    assert len(bybit_conns) == 2 and all(sorted(c.subscriptions) == topics for c in bybit_conns)
    [gap] = gaps_of(landing, "bybit")
    assert "closed by the venue" in gap["reason"] and gap["gap_start"] < gap["gap_end"]
    assert gap["gap_start"] <= bybit_conns[0].closed_at_ms and gap["gap_end"] >= bybit_conns[1].opened_at_ms
    got = set(recorded(landing, "bybit", start, end))
    missing = [(s, t) for s, t, _ in truth(sandbox, "bybit", start, end) if (s, t) not in got]
    assert all(not outside_gaps((t // 500 + 1) * 500, [gap]) for _, t in missing), "lost outside the gap"


def _landed_keys(landing: Landing, venue: str) -> set[str]:
    return set(landing.read(venue, EVENTS)["event_key"].to_pylist())


def test_kill_9_restart_and_compaction_lose_and_duplicate_nothing_acknowledged(tmp_path, small_scenario):
    """A subprocess `levwatch record liquidations` killed with SIGKILL mid-stream, restarted, then compacted."""
    home = tmp_path / "home"
    server = make_server(home, scenario=small_scenario).start()
    hub = server.state.streams
    env = dict(os.environ) | {
        "LEVWATCH_HOME": str(home),
        "LEVWATCH_SOURCE": "sandbox",
        "LEVWATCH_BINANCE_WS_URL": server.ws_url("binance"),
        "LEVWATCH_BYBIT_WS_URL": server.ws_url("bybit"),
    }
    cmd = [sys.executable, "-m", "pipelines.cli", "record", "liquidations", "--flush-seconds", "0.2"]
    landing = Landing.under(home)
    start, end = iso_to_ms("2025-10-10T06:00:00Z"), iso_to_ms("2025-10-11T06:00:00Z")
    procs: list[subprocess.Popen] = []
    try:
        # the killed recorder flushes every 2 s, so pushes wait unlanded long enough to be caught mid-stream
        procs.append(
            subprocess.Popen([*cmd[:-1], "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        )
        asyncio.run(wait_for(lambda: all(subscribed(hub, v) for v in VENUES), 60))
        httpx.post(f"{server.url}/_sandbox/replay", json={"start_ms": start, "end_ms": end, "speed": 10_000})
        # kill a quarter in (the 18 h left, 6.5 s of wall time, leave the restart time to start on a loaded
        # machine), once each venue has events landed (acknowledged) and events pushed but not yet landed: a
        # recorder slowed by a busy machine must still be killed mid-stream for the test to mean anything
        by_id = {v: {i: (s, t) for s, t, i in truth(server, v, 0, 2**62)} for v in VENUES}

        def mid_stream(venue: str) -> bool:
            pushed = {by_id[venue][i] for s in hub.sent_for(venue) for i in s["event_ids"]}
            return bool(_landed_keys(landing, venue)) and bool(pushed - set(recorded(landing, venue)))

        asyncio.run(
            wait_for(
                lambda: hub.replay.position() > start + 6 * 3_600_000 and all(mid_stream(v) for v in VENUES),
                60,
            )
        )
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        killed_at = hub.replay.position()
        acknowledged = {v: _landed_keys(landing, v) for v in VENUES}  # nothing lands after the kill
        assert all(acknowledged.values())
        n_conns = len(hub.connections)
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        _, err = procs[1].communicate(
            timeout=60
        )  # stops by itself at the replay's end, flushing on the way out
        assert procs[1].returncode == 0, err.decode()[-2000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        server.stop()

    lake = Lake(home / "lake")
    for venue in VENUES:
        keys = []
        for day in days_between(small_scenario.start, small_scenario.end):  # the replay ran from the start
            compact_day(lake, landing, venue, day)
            keys += pq.read_table(lake.partition_path(venue, EVENTS, day))["event_key"].to_pylist()
        assert len(keys) == len(set(keys)), f"{venue}: duplicated events in the lake"
        assert acknowledged[venue] <= set(keys), f"{venue}: an acknowledged event was lost"
        assert set(keys) == _landed_keys(landing, venue)
        # every event sent to the restarted recorder was landed (its shutdown flush included)
        later = [c.conn_id for c in list(hub.connections.values())[n_conns:] if c.venue == venue]
        by_id = {i: (s, t) for s, t, i in truth(server, venue, 0, 2**62)}
        sent_later = {by_id[i] for s in hub.sent_for(venue) if s["conn_id"] in later for i in s["event_ids"]}
        assert sent_later and sent_later <= set(recorded(landing, venue))
        restart_gaps = [g for g in gaps_of(landing, venue) if "restart" in (g["reason"] or "")]
        assert len(restart_gaps) == 1
        gap = restart_gaps[0]
        assert gap["gap_start"] <= killed_at and gap["gap_end"] >= hub.connections[later[0]].opened_at_ms
        # what the killed recorder never acknowledged was sent inside that gap
        got = set(recorded(landing, venue))
        first_conns = {c.conn_id for c in list(hub.connections.values())[:n_conns] if c.venue == venue}
        lost = [s["push_ms"] for s in hub.sent_for(venue) if s["conn_id"] in first_conns
                for i in s["event_ids"] if by_id[i] not in got]  # fmt: skip
        assert lost and all(p >= gap["gap_start"] for p in lost)


BAD_MESSAGES = {
    "binance": [
        '{"e":"forceOrder","E":1760090400000,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","p":"1",'
        '"ap":"1","X":"FILLED","l":"1","z":"1","T":1760090400000}}',  # no "q"
        "[1, 2]",
    ],
    "bybit": [
        '{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":1760090400000,"data":[["BTCUSDT"]]}',
        "[]",
    ],
}


def test_malformed_messages_are_dead_lettered_and_never_stop_a_stream(sandbox, tmp_path):
    """The sandbox's fault hook sends messages the venues never would; each stream goes on without a gap."""
    start, end = iso_to_ms("2025-10-10T12:00:00Z"), iso_to_ms("2025-10-10T14:00:00Z")
    hub = sandbox.state.streams
    first_new, injected_before = len(hub.connections), len(hub.injected)

    async def inject(client):
        await wait_for(lambda: hub.replay.position() > start + 1_800_000)
        for venue, texts in BAD_MESSAGES.items():
            for text in texts:
                reply = await client.post(
                    f"{sandbox.url}/_sandbox/streams/inject", json={"venue": venue, "text": text}
                )
                assert len(reply.json()["sent"]) == 1

    asyncio.run(record_replay(sandbox, tmp_path, start, end, speed=6_000, during=inject))
    landing = Landing.under(tmp_path)
    injected = hub.injected[injected_before:]
    for venue in VENUES:
        assert [d["message"] for d in landing.dead_letters(venue)] == [
            i["text"] for i in injected if i["venue"] == venue
        ]
        assert gaps_of(landing, venue) == []
        assert len([c for c in list(hub.connections.values())[first_new:] if c.venue == venue]) == 1
    # nothing lost: Bybit pushes every event, all of them landed, before and after the bad messages
    bybit_truth = {(s, t) for s, t, _ in truth(sandbox, "bybit", start, end)}
    assert bybit_truth and set(recorded(landing, "bybit", start, end)) == bybit_truth
    by_id = {i: (s, t) for s, t, i in truth(sandbox, "binance", start, end)}
    new_conns = {c.conn_id for c in list(hub.connections.values())[first_new:]}
    sent_binance = {
        by_id[i]
        for s in hub.sent_for("binance")
        if s["conn_id"] in new_conns
        for i in s["event_ids"]
        if i in by_id
    }
    assert sent_binance and set(recorded(landing, "binance", start, end)) == sent_binance


class FailsOnceWhileReading(Recorder):
    """An unexpected error (not a network one) on Bybit's connection, once some events were taken."""

    failed = False

    async def _read(self, ws, venue):
        if venue == "bybit" and not self.failed:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.on_message(venue, msg.data)
                if self.buffers["bybit"].rows or self.buffers["bybit"].events:
                    self.failed = True
                    raise RuntimeError("injected fault in the connection loop")
        await super()._read(ws, venue)


def test_any_error_on_a_connection_reconnects_and_records_the_gap(sandbox, tmp_path):
    start, end = iso_to_ms("2025-10-10T12:00:00Z"), iso_to_ms("2025-10-10T16:00:00Z")
    hub = sandbox.state.streams
    first_new = len(hub.connections)
    recorder = asyncio.run(
        record_replay(sandbox, tmp_path, start, end, speed=6_000, recorder_cls=FailsOnceWhileReading)
    )
    assert recorder.failed
    landing = Landing.under(tmp_path)
    bybit_conns = [c for c in list(hub.connections.values())[first_new:] if c.venue == "bybit"]
    assert len(bybit_conns) == 2 and all(c.subscriptions for c in bybit_conns)
    [gap] = gaps_of(landing, "bybit")
    assert "RuntimeError: injected fault" in gap["reason"] and gap["gap_end"] >= bybit_conns[1].opened_at_ms
    got = set(recorded(landing, "bybit", start, end))
    missing = [(s, t) for s, t, _ in truth(sandbox, "bybit", start, end) if (s, t) not in got]
    assert all(not outside_gaps((t // 500 + 1) * 500, [gap]) for _, t in missing), "lost outside the gap"
    keys = landing.read("bybit", EVENTS)["event_key"].to_pylist()
    assert len(keys) == len(set(keys)), "an event landed twice"


def test_a_quiet_stream_is_heard_through_heartbeat_replies(sandbox, tmp_path):
    """No liquidations at all: Bybit's pong and Binance's LIST_SUBSCRIPTIONS reply still show the stream alive."""
    quiet = iso_to_ms("2025-10-10T12:00:00Z")
    httpx.post(f"{sandbox.url}/_sandbox/replay", json={"start_ms": quiet, "end_ms": quiet + 1, "speed": 1})
    hub = sandbox.state.streams

    async def clock() -> int:
        return hub.replay.position()

    async def run() -> Recorder:
        config = RecorderConfig(flush_seconds=0.1, app_ping_s=0.1, **FAST)
        rec = Recorder(
            Landing.under(tmp_path), {v: sandbox.ws_url(v) for v in VENUES}, config=config, clock=clock
        )
        task = asyncio.create_task(rec.run())
        await wait_for(lambda: all(rec.buffers[v].connected for v in VENUES))
        at_subscription = {v: rec.buffers[v].heard_at_ms for v in VENUES}
        await wait_for(lambda: all(rec.buffers[v].heard_at_ms > at_subscription[v] for v in VENUES))
        await asyncio.sleep(0.2)
        rec.stop()
        await task
        return rec

    rec = asyncio.run(run())
    landing = Landing.under(tmp_path)
    for venue in VENUES:
        assert landing.last_heard(venue) == (rec.buffers[venue].heard_at_ms, None)
        assert landing.read(venue, EVENTS).num_rows == 0 and landing.dead_letters(venue) == []
