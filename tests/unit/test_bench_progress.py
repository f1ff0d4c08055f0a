"""The bench reads the demo's closing progress lines to split its phases (tests/bench/goals.py)."""

from __future__ import annotations

from tests.bench.goals import progress_durations

DEMO_OUTPUT = """\
[levwatch] backfilling every asset for 2025-09-01...2025-11-30 in one Dagster
run …
✓ simulate   ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━               0:00:03
✓ record     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 91/91 days    0:02:53
✓ dbt        ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 739/739 nodes 1:01:31
[levwatch] done in 337s
"""


def test_each_phase_line_gives_its_seconds_and_other_lines_nothing():
    assert progress_durations(DEMO_OUTPUT) == {"simulate": 3.0, "record": 173.0, "dbt": 3691.0}
