"""Venue status announcements in the sandbox, from the scenario's outages.

A scenario outage is an unannounced disruption: the venue lists it once it has begun (state `ongoing`), and as
`completed` after it ends, with its real window. Sandbox choices (not venue facts): an outage is a system disruption
(OKX maintType "3", Bybit maintainType 3) of every service; completed events stay listed for
COMPLETED_LISTED_MS after they end (the venues' own retention is not documented); the event id is derived from the
venue and the window. While the outage lasts every path of the venue answers 503 (pipelines/sandbox/serving.py),
status included, so a reader sees the event as ongoing only if an outage spares the status path (none does today).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pipelines.sandbox.scenario import Scenario

COMPLETED_LISTED_MS = 30 * 24 * 3_600_000
DISRUPTION = 3  # OKX maintType / Bybit maintainType: system disruption (incident)


@dataclass(frozen=True)
class StatusEvent:
    event_id: str
    venue: str
    begin_ms: int
    end_ms: int
    state: str  # ongoing | completed

    @property
    def title(self) -> str:
        return f"{self.venue} service disruption"


def status_events(scenario: Scenario, venue: str, now_ms: int) -> list[StatusEvent]:
    """The venue's listed events at `now_ms`, newest first: begun outages, until COMPLETED_LISTED_MS after they end."""
    events = []
    for outage in scenario.outages:
        if outage.venue != venue or outage.start_ms > now_ms or outage.end_ms <= now_ms - COMPLETED_LISTED_MS:
            continue
        state = "ongoing" if now_ms < outage.end_ms else "completed"
        event_id = str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"levwatch-sandbox/{venue}/{outage.start_ms}/{outage.end_ms}")
        )
        events.append(StatusEvent(event_id, venue, outage.start_ms, outage.end_ms, state))
    return sorted(events, key=lambda e: e.begin_ms, reverse=True)


def locked(scenario: Scenario, venue: str, now_ms: int) -> str:
    """Deribit's `locked`: "true" while an outage of the venue lasts (every currency), else "false"."""
    return "true" if scenario.outage_at(venue, now_ms) is not None else "false"
