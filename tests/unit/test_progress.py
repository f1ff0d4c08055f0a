"""The demo's progress display: child output goes to the log file only, the terminal gets one line per phase with
its counter, and a failure prints the failing step with its last log lines."""

from __future__ import annotations

import io
import sys

from rich.console import Console

from pipelines.progress import TAIL_LINES, DemoProgress

# what the deployment replay, a Dagster run with its dbt step, and a failing step print (shapes from their logs)
REPLAY = """
for day in ("2025-10-09", "2025-10-10", "2025-10-11"):
    print(f"[levwatch] {day}: the day's scheduled runs replayed (7 so far)", flush=True)
"""
DAGSTER = r"""
for i in range(500):
    print(f"2026-12-01 05:00:00 +0000 - dagster - DEBUG - job - run - 1 - raw__okx__klines - noise {i}")
print("2026-12-01 05:00:01 +0000 - dagster - DEBUG - job - run - 1 - raw__okx__klines - STEP_SUCCESS - Finished")
print("\x1b[0m1 of 2 START sql view model staging.stg_okx__klines ... [RUN]")
print("1 of 2 OK created sql view model staging.stg_okx__klines ... [OK in 0.1s]")
print("2 of 2 PASS not_null_stg_okx__klines_ts ... [PASS in 0.1s]")
print("2026-12-01 05:00:02 +0000 - dagster - DEBUG - job - run - 1 - levwatch_dbt_models - STEP_SUCCESS - Finished")
"""
FAILING = """
for i in range(100):
    print(f"line {i}")
raise SystemExit(3)
"""


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=140), out


def test_phases_count_what_the_children_print_and_their_logs_go_to_the_file(tmp_path):
    terminal, out = console()
    with DemoProgress(tmp_path, console=terminal) as progress:
        with progress.phase("record", "days") as record:
            failure = progress.run(
                {"replay": [sys.executable, "-c", REPLAY]}, {}, progress.replay_reader(record, total_days=3)
            )
        assert failure is None
        with progress.phase("backfill", "steps") as backfill:
            failure = progress.run(
                {"dagster": [sys.executable, "-c", DAGSTER]}, {}, progress.backfill_reader(backfill)
            )
        assert failure is None
    shown = out.getvalue()
    assert f"logs: {progress.log_path}" in shown
    assert "noise" not in shown and "STEP_SUCCESS" not in shown  # no log wall
    lines = {line.split()[1]: line for line in shown.splitlines() if line.startswith("✓")}
    assert "3/3 days" in lines["record"]
    assert "2 steps" in lines["backfill"]
    assert "2/2 nodes" in lines["dbt"]
    log = progress.log_path.read_text()
    assert progress.log_path.parent == tmp_path / "logs"
    assert (
        "[dagster] 2026-12-01 05:00:00 +0000 - dagster - DEBUG - job - run - 1 - raw__okx__klines - noise 499"
        in log
    )
    assert "[replay] [levwatch] 2025-10-11: the day's scheduled runs replayed (7 so far)" in log
    assert "\x1b" not in log


def test_a_failure_names_the_step_and_prints_its_last_lines(tmp_path):
    terminal, out = console()
    with DemoProgress(tmp_path, console=terminal) as progress:
        with progress.phase("backfill", "steps") as backfill:
            failure = progress.run(
                {
                    "the Dagster run": [sys.executable, "-c", FAILING],
                    "slow": [sys.executable, "-c", "import time; time.sleep(60)"],
                },
                {},
                progress.backfill_reader(backfill),
            )
        assert failure == ("the Dagster run", 3)
        assert progress.fail(*failure) == 3
    shown = out.getvalue()
    assert f"the Dagster run failed (exit 3). Its last {TAIL_LINES} log lines:" in shown
    assert (
        "line 99" in shown
        and f"line {99 - TAIL_LINES + 1}" in shown
        and f"line {99 - TAIL_LINES}\n" not in shown
    )
    assert "✓" not in shown  # the failed phase is not ticked
    assert f"the whole log: {progress.log_path}" in shown


def test_each_child_runs_in_its_own_environment_when_given_one(tmp_path):
    # the demo's Dagster run beside the replay must not see the replay's sandbox URL (it starts its own)
    show = [sys.executable, "-c", "import os; print('url=' + os.environ.get('URL', 'unset'))"]
    with DemoProgress(tmp_path, console=console()[0]) as progress:
        failure = progress.run({"first": show, "second": show}, {"URL": "http://one"}, env_of={"second": {}})
    assert failure is None
    log = progress.log_path.read_text()
    assert "[first] url=http://one" in log and "[second] url=unset" in log


def test_a_dagster_runs_phase_ends_when_the_run_succeeds_not_when_its_neighbours_do(tmp_path):
    # the demo's history run ends minutes before the replay beside it: its line stops counting at RUN_SUCCESS
    run = DAGSTER + (
        'print("2026-12-01 05:00:03 +0000 - dagster - DEBUG - job - run - 1 - RUN_SUCCESS - Finished execution")\n'
    )
    seen = []
    with (
        DemoProgress(tmp_path, console=console()[0]) as progress,
        progress.phase("history", "steps") as history,
    ):
        steps = progress.backfill_reader(history)

        def read(line: str) -> None:
            steps(line)
            seen.append((line, history.done))

        assert progress.run({"dagster": [sys.executable, "-c", run]}, {}, read) is None
    assert [done for line, done in seen if "RUN_SUCCESS" in line] == [True]
    assert not any(done for line, done in seen if "STEP_SUCCESS" in line)
