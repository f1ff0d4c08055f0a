"""The demo's lake belongs to one simulated market: another market's data is moved aside, never merged."""

import pytest

from pipelines.lake_origin import LakeOriginError, set_aside_other_market
from pipelines.orchestration.resources import VenueGateway


def test_the_demo_sets_aside_a_lake_filled_from_another_market(tmp_path):
    def fill(text: str) -> None:
        for name in ("lake", "landing"):
            (tmp_path / name / "okx").mkdir(parents=True, exist_ok=True)
            (tmp_path / name / "okx" / "data.txt").write_text(text)

    assert set_aside_other_market(tmp_path, "default-aaa") is None  # a fresh home: nothing to move
    fill("market aaa")
    assert set_aside_other_market(tmp_path, "default-aaa") is None  # the same market: re-runs merge into it
    assert (tmp_path / "lake" / "okx" / "data.txt").read_text() == "market aaa"

    moved = set_aside_other_market(tmp_path, "default-bbb")  # a changed scenario would mix two markets
    assert moved is not None and moved.name.endswith("-default-aaa")
    assert not (tmp_path / "lake").exists() and not (tmp_path / "landing").exists()
    assert (moved / "lake" / "okx" / "data.txt").read_text() == "market aaa"  # moved, never deleted
    assert (moved / "landing" / "okx" / "data.txt").read_text() == "market aaa"


def test_a_lake_of_unknown_origin_is_set_aside_not_merged(tmp_path):
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "live.txt").write_text("recorded live")
    moved = set_aside_other_market(tmp_path, "default-aaa")
    assert moved is not None and moved.name.endswith("-unknown-source")
    assert (moved / "lake" / "live.txt").read_text() == "recorded live"


def test_live_runs_refuse_a_home_the_demo_filled(tmp_path):
    live, sandbox = (
        VenueGateway(home=str(tmp_path), source="live"),
        VenueGateway(home=str(tmp_path), source="sandbox"),
    )
    assert live.lake.root == tmp_path / "lake"  # a fresh home: fine
    (tmp_path / "lake").mkdir()
    set_aside_other_market(tmp_path, "default-aaa")  # the demo fills it from a simulated market
    (tmp_path / "lake").mkdir()
    with pytest.raises(LakeOriginError, match="simulated market 'default-aaa'.*LEVWATCH_HOME"):
        live.lake  # noqa: B018 - the property is the check
    assert sandbox.lake.root == tmp_path / "lake"  # the sandbox may keep filling it
