from pathlib import Path

import pytest

from pipelines.instruments import ASSETS, UnknownSymbolError, asset_for_symbol, venue_symbol
from pipelines.sandbox.scenario import ScenarioError, load_scenario
from pipelines.settings import SettingsError, dir_mode_for, load_settings


def test_defaults_and_per_venue_url_overrides(tmp_path):
    s = load_settings({"LEVWATCH_HOME": str(tmp_path), "LEVWATCH_BINANCE_URL": "http://proxy.local:8080/"})
    assert s.home == tmp_path and s.source == "live"
    assert s.base_url("binance") == "http://proxy.local:8080"
    assert s.base_url("okx") == "https://www.okx.com"
    assert s.warehouse_path == tmp_path / "levwatch.duckdb"
    assert s.partitions_start.isoformat() == "2019-09-01"
    assert (s.landing_retention_days, s.landing_retention_mode, s.recorder_max_buffered_events) == (
        7,
        "archive",
        500_000,
    )
    tuned = load_settings({"LEVWATCH_LANDING_RETENTION_DAYS": "30", "LEVWATCH_LANDING_RETENTION": "Delete"})
    assert (tuned.landing_retention_days, tuned.landing_retention_mode) == (30, "delete")
    assert s.file_mode == 0o640  # group-readable: analysts in the pipeline's group can read the files


def test_file_mode_is_octal_and_directories_follow_it():
    assert load_settings({"LEVWATCH_FILE_MODE": "0644"}).file_mode == 0o644
    assert load_settings({"LEVWATCH_FILE_MODE": "0o600"}).file_mode == 0o600
    assert (dir_mode_for(0o640), dir_mode_for(0o644), dir_mode_for(0o600)) == (0o750, 0o755, 0o700)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"LEVWATCH_SOURCE": "prod"}, "LEVWATCH_SOURCE must be one of"),
        ({"LEVWATCH_PARTITIONS_START": "2019/09/01"}, "YYYY-MM-DD"),
        ({"LEVWATCH_HTTP_TIMEOUT_S": "ten"}, "must be a number"),
        ({"LEVWATCH_LANDING_RETENTION_DAYS": "0"}, "at least 1"),
        ({"LEVWATCH_LANDING_RETENTION_DAYS": "a week"}, "whole number"),
        ({"LEVWATCH_LANDING_RETENTION": "shred"}, "archive"),
        ({"LEVWATCH_RECORDER_MAX_BUFFERED_EVENTS": "-5"}, "at least 1"),
        ({"LEVWATCH_FILE_MODE": "rw-r-----"}, "LEVWATCH_FILE_MODE must be an octal mode"),
        ({"LEVWATCH_FILE_MODE": "0440"}, "keeps the owner's read-write"),
        ({"LEVWATCH_FILE_MODE": "01640"}, "from 0600 to 0777"),
    ],
)
def test_bad_settings_fail_clearly(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_sandbox_mode_needs_a_running_sandbox_and_says_how_to_start_one(tmp_path):
    """The pipeline never starts a sandbox: without LEVWATCH_SANDBOX_URL the gateway and the recorder refuse."""
    from pipelines.orchestration.resources import VenueGateway
    from pipelines.recorder.recorder import record_liquidations, sandbox_url_for, sandbox_ws_url

    gateway = VenueGateway(home=str(tmp_path), source="sandbox")
    with pytest.raises(SettingsError, match=r"levwatch sandbox serve.*make sandbox.*LEVWATCH_SANDBOX_URL"):
        gateway.base_url("binance")
    assert (
        VenueGateway(home=str(tmp_path), source="sandbox", sandbox_url="http://127.0.0.1:9").base_url("okx")
        == "http://127.0.0.1:9/okx"
    )
    settings = load_settings({"LEVWATCH_HOME": str(tmp_path), "LEVWATCH_SOURCE": "sandbox"})
    with pytest.raises(SettingsError, match="LEVWATCH_SANDBOX_URL"):
        record_liquidations(settings=settings)
    assert list(tmp_path.iterdir()) == []  # refused before anything ran
    assert sandbox_ws_url("http://127.0.0.1:9/", "bybit") == "ws://127.0.0.1:9/bybit-ws"
    assert sandbox_url_for(sandbox_ws_url("http://127.0.0.1:9", "binance")) == "http://127.0.0.1:9"


def test_instrument_table_maps_every_venue_both_ways():
    assert ASSETS == ("BTC", "ETH", "SOL", "XRP", "DOGE")
    assert venue_symbol("okx", "eth") == "ETH-USDT-SWAP"
    assert asset_for_symbol("bybit", "DOGEUSDT") == "DOGE"
    with pytest.raises(UnknownSymbolError, match="unknown asset 'PEPE'"):
        venue_symbol("binance", "PEPE")
    with pytest.raises(UnknownSymbolError, match="unknown venue 'kraken'"):
        venue_symbol("kraken", "BTC")


def test_default_scenario_covers_the_calibration_window():
    s = load_scenario()
    assert (s.start.isoformat(), s.end.isoformat()) == ("2025-09-01", "2025-11-30")
    assert set(s.venues) == {"binance", "bybit", "okx", "hyperliquid"}
    assert any(o.venue == "binance" for o in s.outages)
    assert {sh.name for sh in s.shocks} >= {"tariff-crash", "mid-november-long-squeeze"}


def test_a_scenario_can_extend_another_and_changes_its_digest(tmp_path):
    small = load_scenario(Path(__file__).parents[1] / "fixtures" / "scenario_small.yaml")
    assert small.name == "small" and small.venues == load_scenario().venues
    assert small.digest != load_scenario().digest


@pytest.mark.parametrize(
    "text, message",
    [
        ("start: 2025-10-02\nend: 2025-10-01\nassets: {}\nvenues: {}\n", "ends .* before it starts"),
        ("extends: default.yaml\nstep_minutes: 7\n", "step_minutes must divide 60"),
        (
            "extends: default.yaml\noutages: [{venue: binance, start: 2025-10-10, end: 2025-10-11, mode: flaky}]\n",
            "mode must be 503 or timeout",
        ),
        ("[1, 2]\n", "expected a mapping"),
        ("start: [\n", "not valid YAML"),
        ("start: 2025-10-01\n", "missing key"),
    ],
)
def test_bad_scenarios_fail_clearly(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)
