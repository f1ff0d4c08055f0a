"""Each request attempt is stamped by the client's wall clock, which a replay sets to the sandbox's."""

from __future__ import annotations

import httpx

from pipelines.venues.http import VenueHttp


def test_api_calls_carry_the_injected_wall_clock():
    answers = iter([httpx.Response(503, text="down"), httpx.Response(200, json={"ok": True})])
    now = [1_757_000_000.0]

    def clock() -> float:
        now[0] += 60  # each attempt a replayed minute later
        return now[0]

    http = VenueHttp(
        "okx",
        "http://venue.test",
        transport=httpx.MockTransport(lambda request: next(answers)),
        sleep=lambda _: None,
        wall_clock=clock,
    )
    with http:
        assert http.get_json("/api/v5/system/status") == {"ok": True}
    calls = http.drain_calls()
    assert [(c.requested_at_ms, c.status, c.ok) for c in calls] == [
        (1_757_000_060_000, 503, False),
        (1_757_000_120_000, 200, True),
    ]
