"""Recorder faults, driven through the recorder's own message and flush paths without a network.

Each test reproduces a reported fault (a bad message, ENOSPC with a gap pending, a kill -9 mid-flush, an
unbounded buffer, freshness fooled by file times) and asserts that nothing acknowledged was lost or duplicated.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.defs.liquidations.assets import dead_letter_check, freshness
from pipelines.lake import Lake
from pipelines.recorder.compaction import compact_day
from pipelines.recorder.landing import EVENTS, GAPS, Landing
from pipelines.recorder.recorder import Recorder, RecorderConfig, RecorderOverflow

T0 = 1760130000000  # 2025-10-10T21:00:00Z
DAY = date(2025, 10, 10)
REPO = Path(__file__).resolve().parents[2]


def bybit_push(i: int) -> str:
    """The i-th allLiquidation push (one event each), 500 ms apart, in the documented shape."""
    ts = T0 + i * 500
    item = {"T": ts - 100, "s": "BTCUSDT", "S": "Buy", "v": f"0.{i + 1:03d}", "p": "43511.70"}
    return json.dumps({"topic": "allLiquidation.BTCUSDT", "type": "snapshot", "ts": ts, "data": [item]})


def key_of(i: int) -> str:
    return f"BTCUSDT:{T0 + i * 500 - 100}:Buy:0.{i + 1:03d}:43511.70"


def binance_push(drop: str | None = None) -> str:
    order = {"s": "BTCUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "0.014", "p": "9910", "ap": "9910",
             "X": "FILLED", "l": "0.014", "z": "0.014", "T": T0 + 568}  # fmt: skip
    if drop:
        order.pop(drop)
    return json.dumps({"e": "forceOrder", "E": T0 + 1000, "o": order})


def recorder(landing: Landing, venue: str = "bybit", **config) -> Recorder:
    rec = Recorder(landing, {}, config=RecorderConfig(venues=(venue,), **config), recorder_id="r1")
    rec._connected(venue, T0, first=True)
    return rec


def landed_keys(landing: Landing, venue: str = "bybit") -> list[str]:
    return landing.read(venue, EVENTS)["event_key"].to_pylist()


async def drop_and_reconnect(rec: Recorder, venue: str, at_ms: int) -> None:
    await rec._disconnected(venue, "test: dropped")
    rec._connected(venue, at_ms, first=False)  # the gap is now closed and waits in the buffer


# -- a bad message ---------------------------------------------------------------------------------------------


def test_bad_messages_are_dead_lettered_whole_and_the_stream_goes_on(tmp_path):
    landing = Landing(tmp_path / "landing")
    binance = recorder(landing, "binance")
    bad_binance = [binance_push(drop="q"), "[1, 2]", '{"stream": "x", "data": [1]}', "<html>"]
    for text in [*bad_binance, binance_push()]:
        binance.on_message("binance", text)
    bybit = recorder(landing, "bybit")
    bad_bybit = ['{"topic": "allLiquidation.BTCUSDT", "ts": 1, "data": [["BTCUSDT"]]}', "[]"]
    for text in [bybit_push(0), *bad_bybit, bybit_push(1)]:
        bybit.on_message("bybit", text)
    asyncio.run(binance.flush())
    asyncio.run(bybit.flush())

    assert [d["message"] for d in landing.dead_letters("binance")] == bad_binance  # whole, in order
    assert [d["message"] for d in landing.dead_letters("bybit")] == bad_bybit
    assert "'q'" in landing.dead_letters("binance")[0]["error"]
    assert binance.buffers["binance"].dead_letters == 4 and bybit.buffers["bybit"].dead_letters == 2
    assert landed_keys(landing, "binance") == [f"BTCUSDT:{T0 + 568}:SELL:0.014:9910"]
    assert landed_keys(landing) == [key_of(0), key_of(1)]  # the event after the bad ones was taken

    # the dead_letters check warns while they are recent: heartbeats alone would keep a broken stream looking alive
    now_s = landing.dead_letters("binance")[-1]["received_at_ms"] / 1000
    warned = dead_letter_check(landing, "binance", [DAY], DAY, now_s + 60)
    assert not warned.passed and warned.severity == "WARN"
    assert warned.metadata["dead_letters_24h"] == 4
    assert dead_letter_check(landing, "binance", [DAY], DAY, now_s + 25 * 3600).passed


# -- a failed flush --------------------------------------------------------------------------------------------


class FailingLanding(Landing):
    """Raises ENOSPC on chosen writes: `fail` is a list of (dataset, when) consumed in order; when is "before"
    (nothing written) or "after" (the file renamed into place, then the directory fsync fails)."""

    def __init__(self, root: Path, fail: list[tuple[str, str]]):
        super().__init__(root)
        object.__setattr__(self, "fail", list(fail))

    def write(self, venue, dataset, recorder_id, seq, rows, *args):
        if self.fail and self.fail[0][0] == dataset:
            _, when = self.fail.pop(0)
            if when == "after":
                super().write(venue, dataset, recorder_id, seq, rows, *args)
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(venue, dataset, recorder_id, seq, rows, *args)


@pytest.mark.parametrize(
    "fail",
    [[(EVENTS, "before")], [(GAPS, "before")], [(EVENTS, "after")], [(GAPS, "after"), (EVENTS, "before")]],
    ids=["events-enospc", "gaps-enospc", "events-enospc-after-rename", "both"],
)
def test_a_failed_flush_with_a_gap_pending_is_retried_and_lands_everything_once(tmp_path, fail):
    landing = FailingLanding(tmp_path / "landing", fail)
    rec = recorder(landing)

    async def scenario():
        await drop_and_reconnect(rec, "bybit", T0 + 60_000)
        for i in range(3):
            rec.on_message("bybit", bybit_push(200 + i))
        await rec.flush()  # fails (ENOSPC) part-way
        for i in range(3, 6):
            rec.on_message("bybit", bybit_push(200 + i))
        await rec.flush()
        await rec.flush()

    asyncio.run(scenario())
    keys = landed_keys(landing)
    assert sorted(keys) == sorted(key_of(200 + i) for i in range(6)), "an event was lost or duplicated"
    gaps = landing.read("bybit", GAPS).to_pylist()
    assert len(gaps) == 1 and gaps[0]["reason"] == "test: dropped" and gaps[0]["gap_end"] is not None
    assert rec.buffers["bybit"].rows == [] and rec.buffers["bybit"].gaps == []

    lake = Lake(tmp_path / "lake")
    result = compact_day(lake, landing, "bybit", DAY)
    assert (result.rows, result.gaps) == (6, 1)


def test_an_overflowing_buffer_stops_the_recorder_loudly_and_drops_nothing(tmp_path):
    landing = FailingLanding(tmp_path / "landing", [(EVENTS, "before")] * 3)
    # nothing listens on port 9: the venue loops keep reconnecting while the test feeds the buffer
    rec = Recorder(
        landing,
        {"bybit": "ws://127.0.0.1:9"},
        config=RecorderConfig(
            venues=("bybit",),
            max_buffered_events=4,
            flush_seconds=3600,
            backoff_initial_s=0.01,
            backoff_max_s=0.05,
        ),
        recorder_id="r1",
    )

    async def scenario():
        task = asyncio.create_task(rec.run())
        await asyncio.sleep(0.05)
        for i in range(3):
            rec.on_message("bybit", bybit_push(i))
        await rec.flush()
        await rec.flush()  # two failed flushes: the rows stay buffered
        for i in range(3, 6):
            rec.on_message("bybit", bybit_push(i))
        assert len(rec.buffers["bybit"].rows) == 6  # over the bound, yet nothing was dropped
        with pytest.raises(RecorderOverflow, match="max_buffered_events=4"):
            await asyncio.wait_for(task, 10)  # the final flush (the third failure) then lands nothing

    asyncio.run(scenario())
    assert landed_keys(landing) == []
    assert len(rec.buffers["bybit"].rows) == 6
    asyncio.run(rec.flush(final=True))  # the disk has room again: every buffered event lands, once
    assert sorted(landed_keys(landing)) == sorted(key_of(i) for i in range(6))


# -- kill -9 in the middle of a flush --------------------------------------------------------------------------

CHILD = """
import asyncio, sys, time
from pathlib import Path
from pipelines.recorder.landing import EVENTS, Landing
from pipelines.recorder.recorder import Recorder, RecorderConfig
from tests.unit.test_recorder_faults import T0, bybit_push, drop_and_reconnect

root, ready = Path(sys.argv[1]), Path(sys.argv[2])

class StallsInSecondEventsWrite(Landing):
    def write(self, venue, dataset, recorder_id, seq, rows, *args):
        if dataset == EVENTS and seq > 0:  # the gap file of this flush is in place; the events file is not
            tmp = self.dir(venue, dataset) / ".tmp-killed.parquet"
            tmp.write_bytes(b"PAR1" + bytes(64))  # half-written, as a kill during the write leaves it
            ready.write_text("stalled")
            time.sleep(600)
        return super().write(venue, dataset, recorder_id, seq, rows, *args)

rec = Recorder(StallsInSecondEventsWrite(root), {}, config=RecorderConfig(venues=("bybit",)), recorder_id="r1")

async def main():
    rec._connected("bybit", T0, first=True)
    for i in range(4):
        rec.on_message("bybit", bybit_push(i))
    await rec.flush()
    await drop_and_reconnect(rec, "bybit", T0 + 60_000)
    for i in range(120, 124):
        rec.on_message("bybit", bybit_push(i))
    await rec.flush()

asyncio.run(main())
"""


def test_kill_9_during_a_flush_then_restart_and_compaction_lose_and_duplicate_nothing(tmp_path):
    landing, ready = Landing(tmp_path / "landing"), tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(landing.root), str(ready)], cwd=REPO, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the child recorder never reached its second flush"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        child.stderr.close()

    acknowledged = landed_keys(landing)
    assert sorted(acknowledged) == sorted(key_of(i) for i in range(4))
    assert len(landing.read("bybit", GAPS)) == 1  # the first flush's gap file landed before the kill
    assert (landing.dir("bybit", EVENTS) / ".tmp-killed.parquet").exists()  # never read as a landing file

    # the restart: a new recorder on the same landing area; the venue now pushes events 240.. and, once, an old one
    rec = Recorder(landing, {}, config=RecorderConfig(venues=("bybit",)), recorder_id="r2")
    rec._connected("bybit", T0 + 130_000, first=True)
    for i in (3, 240, 241):
        rec.on_message("bybit", bybit_push(i))
    asyncio.run(rec.flush(final=True))

    lake = Lake(tmp_path / "lake")
    compact_day(lake, landing, "bybit", DAY)
    first = pq.read_table(lake.partition_path("bybit", EVENTS, DAY))
    compact_day(lake, landing, "bybit", DAY)  # a re-run changes nothing
    table = pq.read_table(lake.partition_path("bybit", EVENTS, DAY))
    assert table.equals(first)
    keys = table["event_key"].to_pylist()
    assert len(keys) == len(set(keys)), "duplicated events in the lake"
    assert set(keys) == set(acknowledged) | {key_of(240), key_of(241)}
    gaps = pq.read_table(lake.partition_path("bybit", GAPS, DAY)).to_pylist()
    assert sorted(g["reason"] for g in gaps) == ["recorder not running (restart)", "test: dropped"]
    restart = next(g for g in gaps if "restart" in g["reason"])
    # what the killed recorder never acknowledged (events 120..123) lies inside the restart gap
    assert int(restart["gap_start"].timestamp() * 1000) <= T0 + 120 * 500 - 100
    assert int(restart["gap_end"].timestamp() * 1000) >= T0 + 124 * 500


# -- freshness -------------------------------------------------------------------------------------------------


def test_freshness_is_judged_on_what_was_heard_not_on_file_times(tmp_path):
    landing = Landing(tmp_path / "landing")
    rec = recorder(landing)
    rec.on_message("bybit", bybit_push(0))
    heard = rec.buffers["bybit"].heard_at_ms
    asyncio.run(rec.flush())
    today = DAY

    def check(minutes_later: float):
        return freshness(landing, "bybit", [today], today, heard / 1000 + minutes_later * 60)

    assert check(2).passed
    # the stream then dies silently; the recorder still writes a file every flush: fresh files, nothing heard
    for _ in range(3):
        asyncio.run(rec.flush())
    stale = check(61)
    assert not stale.passed and stale.severity == "ERROR"
    assert stale.metadata["last_heard_minutes_ago"] == pytest.approx(61)
    warn = check(30)
    assert not warn.passed and warn.severity == "WARN"
    # a heartbeat reply on a quiet stream counts as heard; it is not an event
    rec.on_message("bybit", '{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}')
    asyncio.run(rec.flush())
    later = rec.buffers["bybit"].heard_at_ms
    assert freshness(landing, "bybit", [today], today, later / 1000 + 60).passed
    assert landing.last_heard("bybit") == (later, heard)
