"""raw/binance/liquidations and raw/bybit/liquidations: compact the recorder's landing area into the lake.

One multi-asset per venue writes, per day of its run's range, `lake/<venue>/liquidations` (asset
raw/<venue>/liquidations) and `lake/<venue>/liquidation_gaps` (asset raw/<venue>/liquidation_gaps): two outputs of
one step, since the gaps only mean something next to the events they qualify and one compaction writes both. The
recorder
itself runs outside Dagster (`levwatch record liquidations`); these assets only read what it landed, then retire
landing files the lake now holds in full (retention.py).
"""

import time
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    multi_asset,
)

from pipelines.lib.check_outcome import CheckOutcome, warn_if
from pipelines.lib.timeutil import days_between, ms_to_day, parse_day
from pipelines.orchestration.check_results import check_result
from pipelines.orchestration.partitions import DAILY, SINGLE_RUN
from pipelines.orchestration.resources import VenueGateway
from pipelines.recorder.compaction import compact_day, gap_minutes
from pipelines.recorder.landing import GAPS, Landing
from pipelines.recorder.retention import retire_landing
from pipelines.recorder.streams import STREAM_VENUES
from pipelines.settings import load_settings

# the recorder lands a file every minute, and hears a heartbeat reply every 20 s on a quiet stream
FRESHNESS_WARN_MINUTES, FRESHNESS_ERROR_MINUTES = 10, 60
GAP_WARN_MINUTES = 15.0  # per venue per day
DEAD_LETTER_WINDOW_MINUTES = 24 * 60
MAX_EVENT_NOTIONAL_USD = 1e9

CHECKS = {
    "recorder_freshness": (
        f"The recorder heard from the venue (an event or a heartbeat reply, per landing metadata) within "
        f"{FRESHNESS_WARN_MINUTES} min (WARN) / {FRESHNESS_ERROR_MINUTES} min (ERROR); file times are not "
        "trusted (a recorder whose stream died still writes files). Only judged when the run includes today."
    ),
    "dead_letters": (
        "No message dead-lettered (one the recorder could not take) in the last 24 h of wall time (WARN); a venue "
        "changing its format would otherwise look alive through its heartbeats. Only judged when the run includes "
        "today."
    ),
    "gap_minutes": f"Minutes of recorder gaps per day (metadata); WARN over {GAP_WARN_MINUTES:g} on any day.",
    "duplicate_events": "No event_key repeats within a written partition.",
    "notional_sanity": f"Every event's notional_usd is > 0 and < ${MAX_EVENT_NOTIONAL_USD:,.0f}.",
}


def freshness(landing: Landing, venue: str, days: list[date], today: date, now_s: float) -> CheckOutcome:
    if today not in days:
        return CheckOutcome(True, "no partition of today in this run: not judged")
    heard_ms, event_ms = landing.last_heard(venue)
    age_min = None if heard_ms is None else (now_s * 1000 - heard_ms) / 60_000
    event_age = None if event_ms is None else (now_s * 1000 - event_ms) / 60_000
    meta = {
        "last_heard_minutes_ago": -1.0 if age_min is None else round(age_min, 2),
        "last_event_minutes_ago": -1.0 if event_age is None else round(event_age, 2),
    }
    if age_min is not None and age_min <= FRESHNESS_WARN_MINUTES:
        return CheckOutcome(True, f"last heard from {venue} {age_min:.1f} min ago", meta)
    severity = warn_if(age_min is not None and age_min <= FRESHNESS_ERROR_MINUTES)
    text = (
        "the landing area records nothing heard from the stream"
        if age_min is None
        else f"last heard from the stream {age_min:.1f} min ago"
    )
    return CheckOutcome(False, f"{venue}: {text}", meta, severity)


def dead_letter_check(
    landing: Landing, venue: str, days: list[date], today: date, now_s: float
) -> CheckOutcome:
    if today not in days:
        return CheckOutcome(True, "no partition of today in this run: not judged")
    since = now_s * 1000 - DEAD_LETTER_WINDOW_MINUTES * 60_000
    recent = [d for d in landing.dead_letters(venue, newest=1000) if d["received_at_ms"] >= since]
    meta = {"dead_letters_24h": len(recent), "dead_letters_total": landing.dead_letter_count(venue)}
    if not recent:
        return CheckOutcome(True, "no message dead-lettered in 24 h", meta)
    return CheckOutcome(
        False,
        f"{venue}: {len(recent)} messages dead-lettered in 24 h (in "
        f"{landing.dead_letter_dir(venue)}), the newest: {recent[-1]['error']}",
        meta,
        "WARN",
    )


def gap_check(landing: Landing, venue: str, days: list[date]) -> CheckOutcome:
    gaps = landing.read(venue, GAPS)
    per_day = {d.isoformat(): round(gap_minutes(gaps, d), 2) for d in days}
    over = {d: m for d, m in per_day.items() if m > GAP_WARN_MINUTES}
    return CheckOutcome(
        not over,
        f"days over {GAP_WARN_MINUTES:g} gap minutes: {sorted(over)}" if over else "within threshold",
        {"gap_minutes_by_day": per_day, "max_gap_minutes": max(per_day.values(), default=0.0)},
        "WARN",
    )


def partition_checks(paths) -> tuple[CheckOutcome, CheckOutcome]:
    dup_days, bad_days = [], []
    for day, path in paths:
        table = pq.read_table(path, columns=["event_key", "notional_usd"])
        if table.num_rows and pc.count_distinct(table["event_key"]).as_py() != table.num_rows:
            dup_days.append(day.isoformat())
        notional = table["notional_usd"]
        bad = pc.sum(
            pc.fill_null(
                pc.or_(pc.less_equal(notional, 0), pc.greater_equal(notional, MAX_EVENT_NOTIONAL_USD)), True
            )
        ).as_py()
        if bad:
            bad_days.append(day.isoformat())
    return (
        CheckOutcome(
            not dup_days,
            f"duplicates on {dup_days}" if dup_days else "no duplicate event_key",
            {"days": dup_days},
        ),
        CheckOutcome(
            not bad_days,
            f"bad notionals on {bad_days}" if bad_days else "all notionals in (0, $1B)",
            {"days": bad_days},
        ),
    )


def _build(venue: str) -> AssetsDefinition:
    key = AssetKey(["raw", venue, "liquidations"])
    gaps_key = AssetKey(["raw", venue, GAPS])

    @multi_asset(
        name=f"raw_{venue}_liquidations",
        specs=[
            AssetSpec(
                key,
                group_name=f"raw_{venue}",
                kinds={"python", "parquet", venue},
                description=f"{venue} liquidations recorded from its websocket (sampled on Binance)",
                metadata={"source": "stream"},
            ),
            AssetSpec(
                gaps_key,
                group_name=f"raw_{venue}",
                kinds={"python", "parquet", venue},
                description=f"The {venue} recorder's stream gaps: the minutes raw/{venue}/liquidations did not hear",
                metadata={"source": "stream"},
            ),
        ],
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        can_subset=False,  # one compaction writes both datasets of a day
        check_specs=[AssetCheckSpec(name, asset=key, description=desc) for name, desc in CHECKS.items()],
    )
    def _raw(context: AssetExecutionContext, venue_gateway: VenueGateway):
        window = context.partition_key_range
        days = days_between(parse_day(window.start), parse_day(window.end))
        lake = venue_gateway.lake
        landing = Landing.under(Path(venue_gateway.home))
        results = [compact_day(lake, landing, venue, day) for day in days]
        for r in results:
            context.log.info(f"{venue}/liquidations {r.day}: {r.rows} events, {r.gaps} gaps ({r.status})")
        today = ms_to_day(venue_gateway.now_ms())
        settings = load_settings()
        retention = retire_landing(
            lake, landing, venue, today, settings.landing_retention_days, settings.landing_retention_mode
        )
        yield MaterializeResult(
            asset_key=key,
            metadata={
                "days": len(results),
                "rows": sum(r.rows for r in results),
                "duplicates_dropped": sum(r.duplicates_dropped for r in results),
                "days_not_recorded": sum(r.status == "not_recorded" for r in results),
                "lake_path": str(lake.dataset_dir(venue, "liquidations")),
                "landing_files_retired": retention.retired,
                "landing_files_old_but_not_in_lake": retention.held_back,
                "landing_temp_files_removed": retention.temp_files_removed,
                "dead_letters": landing.dead_letter_count(venue),
            },
        )
        yield MaterializeResult(
            asset_key=gaps_key,
            metadata={
                "days": len(results),
                "gap_rows": sum(r.gaps for r in results),
                "lake_path": str(lake.dataset_dir(venue, GAPS)),
            },
        )
        checks = [
            ("recorder_freshness", freshness(landing, venue, days, today, time.time())),
            ("dead_letters", dead_letter_check(landing, venue, days, today, time.time())),
            ("gap_minutes", gap_check(landing, venue, days)),
        ]
        dup, notional = partition_checks([(d, lake.partition_path(venue, "liquidations", d)) for d in days])
        checks += [("duplicate_events", dup), ("notional_sanity", notional)]
        for name, outcome in checks:
            yield check_result(outcome, asset_key=key, check_name=name)

    return _raw


LIQUIDATION_ASSETS = [_build(venue) for venue in STREAM_VENUES]
