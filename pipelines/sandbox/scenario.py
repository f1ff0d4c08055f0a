"""YAML scenario -> typed parameters for the simulator."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from pipelines.lib.timeutil import iso_to_ms

DEFAULT_SCENARIO = Path(__file__).parent / "scenarios" / "default.yaml"
SIM_VERSION = "5"  # bump when the simulator's output changes, so cached markets are rebuilt


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class AssetSpec:
    name: str
    vol_annual: float
    beta: float  # loading on the common (BTC) factor
    waypoints: dict[date, float]  # daily close anchors; BTC may use the real closes instead
    depth_usd: float  # USD of net forced flow that moves price by 1% (before decay)
    anchor_file: str | None = None


@dataclass(frozen=True)
class VenueSpec:
    name: str
    oi_usd: dict[str, float]
    funding_interval_hours: int
    funding_cap: float  # per interval
    leverage: dict[int, float]  # leverage -> weight of new positions
    basis_bps: float


@dataclass(frozen=True)
class Shock:
    name: str
    start_ms: int
    duration_minutes: int
    magnitude: dict[str, float]  # asset -> log-return of the exogenous move
    recovery: float  # share of the move that mean-reverts
    recovery_hours: float
    aims_at: str = ""


@dataclass(frozen=True)
class Outage:
    venue: str
    start_ms: int
    end_ms: int
    mode: str  # "503" | "timeout"


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    start: date
    end: date  # inclusive
    clock_ms: int  # the sandbox's "now": retention windows are measured from it
    step_minutes: int
    assets: dict[str, AssetSpec]
    venues: dict[str, VenueSpec]
    shocks: list[Shock]
    outages: list[Outage]
    oi_multiplier: dict[date, float]  # waypoints for the target OI level (leverage build-up and unwind)
    long_bias: float
    maintenance_margin: float
    impact_half_life_minutes: float
    # traders de-risk near liquidation: a position whose liquidation price is d (log) from the market closes at an
    # extra rate of exp(-d / derisk_distance) per derisk_hours; 0 turns it off
    derisk_distance: float = 0.0
    derisk_hours: float = 0.0
    rate_limit_scale: float = 1.0  # multiply venue limits, so tests can exercise 429s cheaply
    # one venue's minute prices run this many minutes ahead of the others' (lead-lag tests); off by default
    minute_lead_venue: str = ""
    minute_lead_minutes: int = 0
    insurance: dict = field(default_factory=dict)  # insurance funds and ADL (pipelines/sandbox/insurance.py)
    digest: str = field(default="")

    def outage_at(self, venue: str, ms: int) -> Outage | None:
        for outage in self.outages:
            if outage.venue == venue and outage.start_ms <= ms < outage.end_ms:
                return outage
        return None


def _date(value: Any, where: str) -> date:
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise ScenarioError(f"{where}: expected a date YYYY-MM-DD, got {value!r}") from None


def _ms(value: Any, where: str) -> int:
    try:
        return iso_to_ms(value if isinstance(value, str) else value.isoformat())
    except (ValueError, AttributeError):
        raise ScenarioError(f"{where}: expected an ISO timestamp, got {value!r}") from None


def load_scenario(path: Path | str | None = None) -> Scenario:
    path = Path(path) if path else DEFAULT_SCENARIO
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario {path} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ScenarioError(f"scenario {path}: expected a mapping at the top level")
    if "extends" in doc:  # a scenario can override a few keys of another one
        base_path = (path.parent / doc.pop("extends")).resolve()
        if not base_path.exists():
            base_path = DEFAULT_SCENARIO.parent / base_path.name
        base_text = base_path.read_text()
        doc = {**yaml.safe_load(base_text), **doc}
        text = base_text + text
    try:
        return _parse(doc, hashlib.sha256((SIM_VERSION + text).encode()).hexdigest()[:16])
    except KeyError as exc:
        raise ScenarioError(f"scenario {path}: missing key {exc}") from None


def _parse(doc: dict, digest: str) -> Scenario:
    start, end = _date(doc["start"], "start"), _date(doc["end"], "end")
    if end < start:
        raise ScenarioError(f"scenario ends ({end}) before it starts ({start})")
    assets = {
        name: AssetSpec(
            name=name,
            vol_annual=float(a["vol_annual"]),
            beta=float(a.get("beta", 1.0)),
            waypoints={
                _date(k, f"assets.{name}.waypoints"): float(v) for k, v in (a.get("waypoints") or {}).items()
            },
            depth_usd=float(a["depth_usd"]),
            anchor_file=a.get("anchor_file"),
        )
        for name, a in doc["assets"].items()
    }
    for spec in assets.values():
        if not spec.waypoints and not spec.anchor_file:
            raise ScenarioError(f"asset {spec.name}: needs waypoints or an anchor_file")
    venues = {
        name: VenueSpec(
            name=name,
            oi_usd={k: float(x) for k, x in v["oi_usd"].items()},
            funding_interval_hours=int(v["funding_interval_hours"]),
            funding_cap=float(v["funding_cap"]),
            leverage={int(k): float(w) for k, w in v["leverage"].items()},
            basis_bps=float(v.get("basis_bps", 0.0)),
        )
        for name, v in doc["venues"].items()
    }
    for venue in venues.values():
        unknown = set(venue.oi_usd) - set(assets)
        if unknown:
            raise ScenarioError(f"venue {venue.name}: oi_usd names unknown assets {sorted(unknown)}")
    shocks = [
        Shock(
            name=s["name"],
            start_ms=_ms(s["time"], f"shock {s['name']}"),
            duration_minutes=int(s["duration_minutes"]),
            magnitude={k: float(x) for k, x in s["magnitude"].items()},
            recovery=float(s.get("recovery", 0.0)),
            recovery_hours=float(s.get("recovery_hours", 24)),
            aims_at=str(s.get("aims_at", "")),
        )
        for s in doc.get("shocks") or []
    ]
    outages = []
    for o in doc.get("outages") or []:
        mode = str(o.get("mode", "503"))
        if mode not in ("503", "timeout"):
            raise ScenarioError(f"outage on {o['venue']}: mode must be 503 or timeout, got {mode!r}")
        outages.append(Outage(o["venue"], _ms(o["start"], "outage start"), _ms(o["end"], "outage end"), mode))
    lead = doc.get("minute_lead") or {}
    lead_venue, lead_minutes = str(lead.get("venue", "")), int(lead.get("minutes", 0))
    if lead and (lead_venue not in venues or not 0 < lead_minutes < 1440):
        raise ScenarioError(f"minute_lead: needs a scenario venue and 1..1439 minutes, got {lead!r}")
    clock = doc.get("clock")
    clock_ms = (
        _ms(clock, "clock") if clock else _ms(f"{end.isoformat()}T23:59:59Z", "clock") + 1 + 30 * 60_000
    )
    step = int(doc.get("step_minutes", 5))
    if step <= 0 or 60 % step:
        raise ScenarioError(f"step_minutes must divide 60, got {step}")
    return Scenario(
        name=str(doc.get("name", "unnamed")),
        seed=int(doc.get("seed", 0)),
        start=start,
        end=end,
        clock_ms=clock_ms,
        step_minutes=step,
        assets=assets,
        venues=venues,
        shocks=shocks,
        outages=outages,
        oi_multiplier={
            _date(k, "oi_multiplier"): float(v) for k, v in (doc.get("oi_multiplier") or {}).items()
        },
        long_bias=float(doc.get("long_bias", 0.58)),
        maintenance_margin=float(doc.get("maintenance_margin", 0.005)),
        impact_half_life_minutes=float(doc.get("impact_half_life_minutes", 45)),
        derisk_distance=float(doc.get("derisk_distance", 0.0)),
        derisk_hours=float(doc.get("derisk_hours", 0.0)),
        rate_limit_scale=float(doc.get("rate_limit_scale", 1.0)),
        minute_lead_venue=lead_venue,
        minute_lead_minutes=lead_minutes,
        insurance=dict(doc.get("insurance") or {}),
        digest=digest,
    )
