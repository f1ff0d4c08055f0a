"""The one adapter from a CheckOutcome to Dagster's AssetCheckResult keeps the outcome's verdict, severity,
message, metadata and name."""

from dagster import AssetCheckSeverity, AssetKey

from pipelines.lib.check_outcome import CheckOutcome, warn_if
from pipelines.orchestration.check_results import check_result


def test_a_failing_warning_stays_a_warning_with_its_message_and_metadata():
    result = check_result(CheckOutcome(False, "3 gaps", {"gaps": 3}, "WARN", name="gap_minutes"))
    assert not result.passed
    assert result.severity == AssetCheckSeverity.WARN
    assert result.description == "3 gaps"
    assert result.metadata["gaps"].value == 3
    assert result.check_name == "gap_minutes"


def test_an_outcome_is_an_error_unless_it_says_otherwise_and_the_caller_may_name_it():
    outcome = CheckOutcome(False, "no rows")
    assert outcome.severity == "ERROR" and not outcome.warn_only
    result = check_result(outcome, asset_key=AssetKey(["raw", "okx", "klines"]), check_name="fresh")
    assert result.severity == AssetCheckSeverity.ERROR
    assert (result.asset_key, result.check_name) == (AssetKey(["raw", "okx", "klines"]), "fresh")


def test_warn_if_maps_a_flag_to_the_severity():
    assert (warn_if(True), warn_if(False)) == ("WARN", "ERROR")
