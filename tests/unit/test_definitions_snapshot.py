"""The code location matches its committed description (tests/fixtures/definitions_snapshot.json): the same
asset keys with their groups, kinds, partitions, deps and freshness policy, the same checks, jobs, schedules,
resources and executor. A refactor of pipelines/defs/ must leave it unchanged; after an intended change,
regenerate it with `.venv/bin/python -m tests.definitions_snapshot --write` and review the diff.

Each variant loads the definitions in a fresh interpreter (they read the environment at import): ~8 s each.
"""

import json

import pytest

from tests.definitions_snapshot import SNAPSHOT, VARIANTS, load_variant

REGENERATE = "intended? regenerate with `.venv/bin/python -m tests.definitions_snapshot --write`"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_definitions_match_their_snapshot(variant):
    expected = json.loads(SNAPSHOT.read_text())[variant]
    actual = load_variant(variant)
    for section in ("resources", "executor", "jobs", "schedules", "asset_entries"):
        assert actual[section] == expected[section], f"{section} changed; {REGENERATE}"
    added = sorted(set(actual["assets"]) - set(expected["assets"]))
    removed = sorted(set(expected["assets"]) - set(actual["assets"]))
    assert not added and not removed, f"assets added {added}, removed {removed}; {REGENERATE}"
    changed = {
        k: (expected["assets"][k], v) for k, v in actual["assets"].items() if v != expected["assets"][k]
    }
    assert not changed, f"assets changed (expected, actual): {changed}; {REGENERATE}"
    added = sorted(set(actual["asset_checks"]) - set(expected["asset_checks"]))
    removed = sorted(set(expected["asset_checks"]) - set(actual["asset_checks"]))
    assert not added and not removed, f"checks added {added}, removed {removed}; {REGENERATE}"
    assert actual == expected, REGENERATE
