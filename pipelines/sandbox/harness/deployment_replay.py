"""A deployment's history over a past window, for the demo: the SANDBOX's clock is walked hour by hour and, at each
position, the datasets a venue serves only for a while are fetched as the live schedules would have fetched them.

A backfill on the window's last day cannot see what a deployment running since its first day saw: Binance keeps
30 days of OI and ratios, OKX 60 days of both and 24 h of liquidation orders, and Hyperliquid's OI and Deribit's
book exist only as snapshots. So, like the option replay (options_replay.py), this walks the clock
(`POST /_sandbox/clock`) and calls the normal ingest code (ingest_days, as the Dagster assets do) with now = the
clock. Everything else (full-history datasets, dbt) is left to the one ranged Dagster run after it.

Runs are batched where the venue allows: a run at one clock position may cover many past days, as long as every
request is one the venue would have answered then (its days are within retention at that clock). Each job has a
period and an hour offset; a day is "settled" for a job once a run at or after the day's end has fetched it.
Rate limits run on replayed time: each client's limiter counts the seconds of the replay's DrivenClock (ClockDriver),
and the sandbox moves its own rate-limit windows with its clock, so a run every simulated hour is never throttled.

Against a live venue this refuses: there is no clock to move. The original clock is restored afterwards.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import httpx

from pipelines.ingest import DayResult, ingest_days
from pipelines.instruments import ASSETS
from pipelines.lake import Lake
from pipelines.lib.clock import Clock
from pipelines.lib.timeutil import DAY_MS, HOUR_MS, day_start_ms, ms_to_day
from pipelines.sandbox.harness.options_replay import ClockDriver, sandbox_root
from pipelines.venues import binance, bybit, coinglass, deribit, hyperliquid, okx
from pipelines.venues.base import DatasetSpec
from pipelines.venues.http import VenueHttp, WeightLimiter
from pipelines.venues.registry import VENUE_MODULES

log = logging.getLogger(__name__)
FLUSH_STEP_MS = 60_000
KLINES_1M = "klines_1m"


@dataclass(frozen=True)
class ReplayJob:
    """One dataset (optionally one asset) run every `period_hours`, at hours where (hour - offset) % period == 0."""

    venue: str
    spec: DatasetSpec
    period_hours: int
    offset_hours: int = 0
    assets: tuple[str, ...] | None = None  # None: every configured asset
    include_today: bool = False  # also fetch the day under way (a rolling window: see it while it is served)

    @property
    def name(self) -> str:
        suffix = f"[{','.join(self.assets)}]" if self.assets else ""
        return f"{self.venue}/{self.spec.name}{suffix}"


def deployment_jobs(assets: tuple[str, ...] = ASSETS, *, with_coinglass: bool = True) -> list[ReplayJob]:
    """What a deployment's schedules would have fetched of the retention-limited and snapshot datasets, batched
    as far as each venue's retention allows."""
    jobs = [
        # snapshots, every sixth hour (05, 11, 17 and 23:00: the day's last is the one options_positioning_daily
        # and leverage_daily keep), where the live hourly schedule takes one every hour: to hold the demo's time.
        # Hourly, the option snapshot was 2,184 of the replay's 3,061 runs and about half its time
        ReplayJob(deribit.VENUE, deribit.DATASETS["options_snapshots"], 6, offset_hours=5),
        ReplayJob(hyperliquid.VENUE, hyperliquid.DATASETS["asset_contexts"], 6, offset_hours=5),
        # insurance funds: Binance and Bybit serve only the current balance, so a daily snapshot at 23:00 (the
        # day's closing reading insurance_funds_daily keeps); OKX's fund history is left to the ranged run
        *insurance_snapshot_jobs(),
        # OKX keeps liquidation orders 24 h, (now - 24 h, now]: a run each day at 12:00 sees every minute
        ReplayJob(okx.VENUE, okx.DATASETS["liquidations"], 24, offset_hours=12, include_today=True),
        # 30 and 60 days of history: a run every 20 days covers each day well inside retention
        ReplayJob(binance.VENUE, binance.DATASETS["open_interest"], 20 * 24, offset_hours=2),
        ReplayJob(binance.VENUE, binance.DATASETS["long_short_ratios"], 20 * 24, offset_hours=2),
        ReplayJob(okx.VENUE, okx.DATASETS["open_interest"], 30 * 24, offset_hours=3),
        ReplayJob(okx.VENUE, okx.DATASETS["long_short_ratios"], 30 * 24, offset_hours=3),
        # minute klines: OKX serves 100 per request (about 6,550 requests for the demo's window), so a wall-clock
        # backfill would wait 14 minutes on its limit; a deployment fetches them as they happen. Hyperliquid keeps
        # only the latest 5,000 minutes (3.5 days): daily; the others weekly in one batch
        ReplayJob(hyperliquid.VENUE, hyperliquid.DATASETS[KLINES_1M], 24, offset_hours=1),
        *(
            ReplayJob(module.VENUE, module.DATASETS[KLINES_1M], 7 * 24, offset_hours=1)
            for module in (binance, bybit, okx)
        ),
        # full history, but the slowest to fetch on a wall-clock limit (Hyperliquid's funding weighs per item
        # returned: about a minute for the window; OKX's hourly candles, 100 a request): weekly, as the minute klines
        ReplayJob(hyperliquid.VENUE, hyperliquid.DATASETS["funding_rates"], 7 * 24, offset_hours=6),
        ReplayJob(okx.VENUE, okx.DATASETS["klines"], 7 * 24, offset_hours=7),
    ]
    if with_coinglass:
        # weekly per asset, an hour apart: each run's ten requests fit the per-minute budget of replayed time. A
        # run for one asset adds its rows to the day's file instead of replacing the other assets' rows
        per_asset = dataclasses.replace(coinglass.DATASET, accumulate=True)
        jobs += [
            ReplayJob(coinglass.VENUE, per_asset, 7 * 24, offset_hours=4 + i, assets=(asset,))
            for i, asset in enumerate(assets)
        ]
    return jobs


def insurance_snapshot_jobs() -> list[ReplayJob]:
    """The snapshot-only insurance funds (Binance, Bybit), once a day at 23:00."""
    return [
        ReplayJob(module.VENUE, module.DATASETS["insurance_funds"], 24, offset_hours=23)
        for module in (binance, bybit)
    ]


def replayed_only(asset_key: str) -> bool:
    """Raw assets whose every day of the window the replay fetched (the non-snapshot jobs: minute klines, the
    retention-limited OI and ratios, OKX's liquidation orders, Hyperliquid's funding and OKX's hourly klines): the
    demo's ranged run leaves them out rather than fetch the same days again on wall-clock rate limits (OKX's OI and
    ratios alone waited ~60 s on its limit for days the replay had already settled, Hyperliquid's funding 61 s).
    Snapshots stay in: the ranged run's one snapshot is cheap and runs their checks. The replay reports what it
    wrote of these to the demo's Dagster instance (record_in_dagster)."""
    return asset_key in REPLAYED_IN_FULL


REPLAYED_IN_FULL = frozenset(
    f"raw/{job.venue}/{job.spec.name}"
    for job in deployment_jobs(with_coinglass=False)
    if not job.spec.snapshot
)

# The demo's ranged run: every asset but those replayed_only, and the daily report pages (the demo writes the crash
# day's page itself, not one per day of the range). Dagster's selection syntax, resolved by the run's own code
# location: no separate listing of the assets first
RANGED_RUN_SELECTION = " and ".join(
    [*(f'not key:"{key}"' for key in sorted(REPLAYED_IN_FULL)), 'not key:"reports/*"']
)

# The ranged run's raw assets that fetch a venue's history as of the market's "now", and that neither the replay nor
# the stream recorder writes (no snapshot, nothing replayed, no landing files): the demo runs them in a Dagster run
# of their own beside the replay, against a second sandbox whose clock stays at "now" (the replay moves the first
# one's). Every request is the one the ranged run made after the replay, on the same market at the same clock.
BESIDE_REPLAY = frozenset(
    f"raw/{venue}/{name}"
    for venue, module in VENUE_MODULES.items()
    for name, spec in module.DATASETS.items()
    if not spec.snapshot and f"raw/{venue}/{name}" not in REPLAYED_IN_FULL
)
BESIDE_REPLAY_SELECTION = " or ".join(f'key:"{key}"' for key in sorted(BESIDE_REPLAY))
# ... and the rest of the ranged run, once the replay and the recorder are done: the snapshots, the stream
# liquidations, the dbt marts and every check
AFTER_REPLAY_SELECTION = " and ".join(
    [RANGED_RUN_SELECTION, *(f'not key:"{key}"' for key in sorted(BESIDE_REPLAY))]
)


def record_in_dagster(report: ReplayReport, instance) -> int:  # noqa: ANN001
    """Tell the Dagster instance what the replay wrote of the assets the demo's ranged run leaves out
    (replayed_only): one materialization per asset and day with rows, reported as a runless event, so the UI shows
    those partitions materialized (by the replay, not by a run; their raw checks are not run). Returns the count."""
    from dagster import AssetKey, AssetMaterialization

    written: dict[tuple[str, date], int] = {}
    for job_name, results in report.results.items():
        key = f"raw/{job_name.split('[')[0]}"
        if not replayed_only(key):
            continue
        for result in results:  # a later run of the same day holds the day's rows after it
            if result.status == "ok":
                written[(key, result.day)] = result.rows
    for (key, day), rows in sorted(written.items()):
        instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key=AssetKey(key.split("/")),
                partition=day.isoformat(),
                metadata={"rows": rows, "written_by": "levwatch record deployment (the deployment replay)"},
            )
        )
    return len(written)


def make_replay_http(
    venue: str,
    base_url: str,
    clock: Clock,
    *,
    coinglass_key: str | None,
    wait: Callable[[float], None] | None = None,
) -> VenueHttp:
    """The venue's own client on the replay's clock: api_health stamped with its now_ms and the limiter counting
    its seconds (replayed, not wall); `wait` (if given) is how the limiter waits: by moving the sandbox clock, not
    by sleeping."""
    if venue == coinglass.VENUE:
        if not coinglass_key:
            raise ValueError(f"the CoinGlass job needs a key ({coinglass.KEY_ENV})")
        http = coinglass.make_http(base_url, coinglass_key, clock=clock)
    else:
        http = VENUE_MODULES[venue].make_http(base_url, clock=clock)
    if http.limiter is not None:
        http.limiter = WeightLimiter(
            http.limiter.capacity, http.limiter.window_s, clock=clock, sleep=wait or time.sleep
        )
    return http


@dataclass
class ReplayReport:
    positions: int = 0
    runs: int = 0
    results: dict[str, list[DayResult]] = field(default_factory=dict)

    def days_with_rows(self, job_name: str) -> set[date]:
        return {r.day for r in self.results.get(job_name, []) if r.rows > 0}


def replay_deployment(
    gateway_or_base_url,
    lake: Lake,
    start_ms: int,
    end_ms: int,
    *,
    jobs: list[ReplayJob] | None = None,
    coinglass_key: str | None = None,
    progress: Callable[[str], None] = log.info,
) -> ReplayReport:
    """Walk the clock hourly over [start, end) and run each job at its hours; then, at end (and a minute apart
    per job), one catch-up run for the days each non-snapshot job has not settled. Returns what was run."""
    if end_ms <= start_ms:
        raise ValueError(f"empty replay window: end {end_ms} <= start {start_ms}")
    if start_ms % HOUR_MS:
        raise ValueError("the replay starts on a whole hour")
    jobs = deployment_jobs(with_coinglass=coinglass_key is not None) if jobs is None else jobs
    root = sandbox_root(gateway_or_base_url)
    first_day = ms_to_day(start_ms)
    pending = {job.name: first_day for job in jobs}  # each job's first unsettled day
    report = ReplayReport()
    clients: dict[str, VenueHttp] = {}
    with httpx.Client(base_url=root, timeout=5) as control:
        driver = ClockDriver(control)

        def run(job: ReplayJob, clock: int) -> None:
            days = _days_to_fetch(job, pending[job.name], clock)
            if not days:
                return
            http = clients.get(job.venue)
            if http is None:
                http = clients[job.venue] = make_replay_http(
                    job.venue,
                    f"{root}/{job.venue}",
                    driver.clock,
                    coinglass_key=coinglass_key,
                    wait=driver.wait,
                )
            results = ingest_days(
                job.venue,
                job.spec,
                days,
                http=http,
                lake=lake,
                now_ms=clock,
                run_id=f"deployment-replay-{clock}",
                assets=job.assets or ASSETS,
                progress=lambda message: None,
            )
            report.runs += 1
            report.results.setdefault(job.name, []).extend(results)
            # every day before the clock's has ended, so this run saw all of it the venue still served
            pending[job.name] = max(pending[job.name], ms_to_day(clock))

        try:
            for clock in range(start_ms, end_ms, HOUR_MS):
                driver.move_to(clock)
                report.positions += 1
                hour = (clock - start_ms) // HOUR_MS
                for job in jobs:
                    if (hour - job.offset_hours) % job.period_hours == 0:
                        run(job, clock)
                if clock % DAY_MS == DAY_MS - HOUR_MS:
                    progress(f"{ms_to_day(clock)}: the day's scheduled runs replayed ({report.runs} so far)")
            # catch-up: the days since each job's last run, now that the window has ended
            clock = end_ms
            for job in jobs:
                if job.spec.snapshot or pending[job.name] >= ms_to_day(end_ms):
                    continue
                driver.move_to(clock)
                report.positions += 1
                run(job, clock)
                clock += FLUSH_STEP_MS
        finally:
            for http in clients.values():
                http.close()
            driver.restore()
    return report


def _days_to_fetch(job: ReplayJob, first_pending: date, clock: int) -> list[date]:
    """A snapshot: the clock's day. Otherwise the unsettled days up to the last complete one, and the day under
    way when the job asks for it. A day that has not started at the clock is never asked for."""
    today = ms_to_day(clock)
    if job.spec.snapshot:
        return [today]
    # the day starting right now has nothing to see yet
    last = today if job.include_today and clock > day_start_ms(today) else today - timedelta(days=1)
    days = []
    day = first_pending
    while day <= last:
        days.append(day)
        day += timedelta(days=1)
    return days
