import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from pipelines.lib import json_codec
from pipelines.lib.intervals import merge_intervals
from pipelines.lib.numbers import PayloadError, require, to_decimal, to_float, to_int
from pipelines.lib.timeutil import (
    PartitionKeyError,
    day_window_ms,
    days_between,
    floor_hour_ms,
    iso_to_ms,
    ms_to_day,
    parse_day,
)


def test_day_window_is_half_open_utc():
    start, end = day_window_ms(date(2025, 10, 10))
    assert start == 1760054400000  # 2025-10-10T00:00:00Z
    assert end - start == 86_400_000
    assert ms_to_day(end - 1) == date(2025, 10, 10)
    assert ms_to_day(end) == date(2025, 10, 11)


@pytest.mark.parametrize("key", ["2025-13-01", "20251001", "2025-10-1", "", "yesterday", "2025-10-01T00"])
def test_bad_partition_keys_are_rejected_clearly(key):
    with pytest.raises(PartitionKeyError, match="YYYY-MM-DD"):
        parse_day(key)


def test_days_between_is_inclusive_and_ordered():
    assert days_between(date(2025, 10, 30), date(2025, 11, 1)) == [
        date(2025, 10, 30),
        date(2025, 10, 31),
        date(2025, 11, 1),
    ]
    with pytest.raises(PartitionKeyError):
        days_between(date(2025, 11, 1), date(2025, 10, 30))


def test_funding_jitter_buckets_to_the_hour():
    assert floor_hour_ms(1788336000001) == 1788336000000
    assert floor_hour_ms(1788364800005) == 1788364800000
    assert iso_to_ms("2025-10-10T21:00:00Z") == 1760130000000


def test_numbers_are_exact_and_missing_is_never_zero():
    assert to_decimal("0.00007995", "r") == Decimal("0.00007995")
    assert to_float("", "r") is None
    assert to_float(None, "r") is None
    assert to_int("1788336000001", "t") == 1788336000001
    for bad in ("abc", "NaN", "Infinity", True):
        with pytest.raises(PayloadError, match="field 'r'"):
            to_decimal(bad, "r")
    with pytest.raises(PayloadError, match="integer"):
        to_int("1.5", "t")


def test_to_float_fast_path_gives_the_decimal_value_and_the_same_refusals():
    # float(str) and float(Decimal(str)) both round correctly: the same double for every decimal string
    for text in ("0.1", "0.00007995", "123456789.123456789", "1e-7", " 2.5 ", "1_000", "-0", "26.45000001"):
        assert to_float(text, "r") == float(Decimal(text)), text
    assert to_float(2.5, "r") == 2.5
    assert to_float(3, "r") == 3.0
    for bad in ("abc", "nan", "NaN", "inf", "-Infinity", float("nan"), float("inf"), True):
        with pytest.raises(PayloadError, match="field 'r'"):
            to_float(bad, "r")


def test_json_codec_writes_what_the_standard_library_does():
    record = {"symbol": "BTCUSDT", "rate": "0.0001", "t": 1788336000001, "px": 0.1, "n": [1, None, True]}
    assert json_codec.dumps_compact(record) == json.dumps(record, separators=(",", ":"))
    # what orjson refuses, the standard library writes
    assert json_codec.dumps_compact({1: "a"}) == '{"1":"a"}'
    assert json_codec.dumps_compact({"big": 2**70}) == '{"big":1180591620717411303424}'


def test_require_names_the_missing_field():
    with pytest.raises(PayloadError, match=r"row\[3\]: missing field 'fundingRate'"):
        require({"symbol": "BTCUSDT"}, "fundingRate", "row[3]")


def test_merge_intervals_joins_overlaps_and_touches_and_drops_empties():
    assert merge_intervals([]) == []
    assert merge_intervals([(5, 9), (0, 3), (3, 4), (8, 12), (20, 20), (30, 25)]) == [(0, 4), (5, 12)]
    assert merge_intervals([(0, 10), (2, 3)]) == [(0, 10)]


# -- Retry-After ---------------------------------------------------------------------------------------------------


def test_retry_after_reads_seconds_and_http_dates():
    from pipelines.lib.retry_after import retry_after_seconds

    now = datetime(2025, 10, 21, 7, 26, 30, tzinfo=UTC).timestamp()
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds(" 7 ", now) == 7.0
    assert retry_after_seconds("Tue, 21 Oct 2025 07:28:00 GMT", now) == 90.0  # 07:26:30 -> 07:28:00
    assert retry_after_seconds("Tuesday, 21-Oct-25 07:28:00 GMT", now) == 90.0  # RFC 850, obsolete
    assert retry_after_seconds("Tue Oct 21 07:28:00 2025", now) == 90.0  # asctime, obsolete, GMT implied
    assert retry_after_seconds("Tue, 21 Oct 2025 07:00:00 GMT", now) == 0.0  # already past: go now
    assert retry_after_seconds("-5", now) == 0.0
    for no_advice in (None, "", "soon", "nan", "inf", "Tue, 32 Oct 2025 07:28:00 GMT"):
        assert retry_after_seconds(no_advice, now) is None
