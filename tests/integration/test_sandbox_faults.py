"""The sandbox's fault injector: each kind does what it says to the venue-shaped answer, and only to the
requests it is scripted for (a page in the middle of a pagination, the hours of an outage)."""

import httpx
import pytest

from pipelines.lib.timeutil import HOUR_MS

FUNDING = "/fapi/v1/fundingRate"
KLINES = "/fapi/v1/klines"
PARAMS = {"symbol": "BTCUSDT", "limit": 6}


def script(sandbox, **fault):
    response = httpx.post(f"{sandbox.url}/_sandbox/faults", json={"venue": "binance", **fault})
    response.raise_for_status()


def get(sandbox, path=FUNDING, params=PARAMS, venue="binance"):
    return httpx.get(sandbox.base_url(venue) + path, params=params, timeout=5)


def test_duplicate_serves_every_row_twice(sandbox):
    clean = get(sandbox).json()
    script(sandbox, path=FUNDING, kind="duplicate")
    doubled = get(sandbox).json()
    assert len(clean) == 6 and doubled == [row for row in clean for _ in (0, 1)]
    assert get(sandbox).json() == clean  # count=1: the next answer is clean


def test_out_of_order_shuffles_the_rows_of_a_page_not_the_slots_of_a_row(sandbox):
    params = {"symbol": "BTCUSDT", "interval": "1h", "limit": 12}
    clean = get(sandbox, KLINES, params).json()
    script(sandbox, path=KLINES, kind="out_of_order", seed=3)
    shuffled = get(sandbox, KLINES, params).json()
    assert shuffled != clean and sorted(shuffled) == sorted(clean)
    assert get(sandbox, KLINES, params).headers["X-MBX-USED-WEIGHT-1M"]  # the route's headers survive


def test_rename_renames_a_field_wherever_it_occurs_in_an_envelope(sandbox):
    params = {"category": "linear", "symbol": "BTCUSDT", "period": "1h", "limit": 5}
    path = "/v5/market/account-ratio"
    clean = get(sandbox, path, params, venue="bybit").json()["result"]["list"]
    httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        json={
            "venue": "bybit",
            "path": path,
            "kind": "rename",
            "field": "sellRatio",
            "rename_to": "sell_ratio",
        },
    ).raise_for_status()
    renamed = get(sandbox, path, params, venue="bybit").json()["result"]["list"]
    assert len(renamed) == len(clean) == 5
    assert all(
        "sellRatio" not in r and r["sell_ratio"] == c["sellRatio"]
        for r, c in zip(renamed, clean, strict=True)
    )


def test_skip_puts_the_fault_on_a_later_page(sandbox):
    script(sandbox, path=FUNDING, kind="503", skip=2, count=1)
    statuses = [get(sandbox).status_code for _ in range(4)]
    assert statuses == [200, 200, 503, 200]


def test_an_outage_serves_5xx_for_hours_of_sandbox_clock_then_ends(sandbox):
    clock = sandbox.state.clock_ms
    script(sandbox, kind="503", until_ms=clock + 3 * HOUR_MS)
    assert {get(sandbox).status_code for _ in range(5)} == {503}  # every request, whatever `count`
    assert get(sandbox, KLINES, {"symbol": "ETHUSDT", "interval": "1h"}).status_code == 503  # every path
    sandbox.state.clock.move_to(clock + 2 * HOUR_MS)
    assert get(sandbox).status_code == 503
    sandbox.state.clock.move_to(clock + 3 * HOUR_MS)
    assert get(sandbox).status_code == 200
    assert sandbox.state.faults == []


def test_answer_faults_and_body_faults_are_counted_apart(sandbox):
    """A page that fails first and is then served duplicated: the 503 does not spend the body fault."""
    script(sandbox, path=FUNDING, kind="503", count=1)
    script(sandbox, path=FUNDING, kind="duplicate", count=1)
    assert get(sandbox).status_code == 503
    assert len(get(sandbox).json()) == 12
    assert len(get(sandbox).json()) == 6


@pytest.mark.parametrize(
    "fault, message",
    [
        ({"kind": "teapot"}, "unknown fault kind 'teapot'"),
        ({"kind": "rename", "field": "x"}, "needs `field` and `rename_to`"),
        ({"kind": "503", "colour": "red"}, "unexpected keyword argument 'colour'"),
    ],
)
def test_a_bad_fault_is_refused_clearly_and_nothing_is_scripted(sandbox, fault, message):
    response = httpx.post(f"{sandbox.url}/_sandbox/faults", json={"venue": "binance", **fault})
    assert response.status_code == 400 and message in response.json()["error"]
    assert sandbox.state.faults == []
