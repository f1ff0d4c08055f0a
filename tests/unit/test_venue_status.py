"""Status and maintenance parsers against the venues' documented example payloads (tests/fixtures/*/ORIGIN.md)."""

import json
from pathlib import Path

import pytest

from pipelines.lake import conform
from pipelines.lib.numbers import PayloadError
from pipelines.lib.venue_status import codes_text, deribit_locked, event_type_of
from pipelines.venues import bybit, deribit, okx
from pipelines.venues.base import to_table

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TS = 1_760_130_000_000


def load(path: str):
    return json.loads((FIXTURES / path).read_text())


def test_okx_status_doc_example():
    rows = okx.parse_system_status(load("okx/system_status.json"), TS)
    assert len(rows) == 1
    row = rows[0]
    assert row["begin"] == 1672823400000 and row["end"] == 1672823520000
    assert row["state"] == "completed"
    assert row["event_type"] == "maintenance"  # maintType "1": scheduled
    assert row["services"] == "8"
    assert row["event_id"] == "Trading account system upgrade (in batches of accounts)|1672823400000"
    assert row["ts"] == TS
    conform("system_status", to_table("system_status", rows))


def test_bybit_status_doc_example_with_integer_types():
    rows = bybit.parse_system_status(load("bybit/system_status_doc.json"), TS)
    by_id = {r["event_id"]: r for r in rows}
    assert len(by_id) == 3
    assert by_id["4d95b2a0-587f-11f0-bcc9-56f28c94d6ea"]["event_type"] == "maintenance"  # maintainType 1
    assert by_id["19bb6f82-587f-11f0-bcc9-56f28c94d6ea"]["event_type"] == "incident"  # 3: incident
    assert by_id["679a9c5f-533b-11f0-bcc9-56f28c94d6ea"]["event_type"] == "incident"  # 2: temporary
    assert by_id["19bb6f82-587f-11f0-bcc9-56f28c94d6ea"]["services"] == "1,4"
    assert by_id["4d95b2a0-587f-11f0-bcc9-56f28c94d6ea"]["end"] == 1751597011000
    conform("system_status", to_table("system_status", rows))


@pytest.mark.parametrize(
    ("fixture", "state", "services"),
    [
        ("deribit/status_doc.json", "true", "BTC,ETH"),
        ("deribit/status_schema_example.json", "partial", "btc_usd"),
    ],
)
def test_deribit_status_in_both_documented_shapes(fixture, state, services):
    (row,) = deribit.parse_status(load(fixture), TS)
    assert (row["state"], row["services"], row["event_type"]) == (state, services, "lock")
    assert row["begin"] is None and row["end"] is None
    conform("system_status", to_table("system_status", [row]))


def test_deribit_all_clear_is_a_row():
    (row,) = deribit.parse_status({"jsonrpc": "2.0", "result": {"locked": "false", "locked_indices": []}}, TS)
    assert row["state"] == "false" and row["services"] is None


def test_bad_payloads_fail_naming_the_field():
    with pytest.raises(PayloadError, match="maintenance type"):
        okx.parse_system_status(
            {"code": "0", "data": [{"title": "x", "begin": "1", "state": "ongoing", "maintType": "9"}]}, TS
        )
    with pytest.raises(PayloadError, match="missing field 'maintainType'"):
        bybit.parse_system_status({"retCode": 0, "result": {"list": [{"id": "a", "state": "ongoing"}]}}, TS)
    with pytest.raises(PayloadError, match="locked must be"):
        deribit.parse_status({"jsonrpc": "2.0", "result": {"locked": "maybe"}}, TS)
    with pytest.raises(PayloadError, match="error envelope"):
        okx.parse_system_status({"code": "50011", "msg": "Rate limit reached", "data": []}, TS)


def test_helpers():
    assert [event_type_of(c, "x") for c in ("1", 2, "3")] == ["maintenance", "incident", "incident"]
    with pytest.raises(PayloadError):
        event_type_of(True, "x")
    assert deribit_locked(False, "x") == "false"
    assert codes_text([]) is None and codes_text([5, 4]) == "5,4" and codes_text("8") == "8"
