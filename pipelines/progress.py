"""The demo's terminal: one line of progress per phase, every child process's own output in one log file.

Dagster's and dbt's logs (thousands of lines) go to $LEVWATCH_HOME/logs/demo-<time>.log, each line prefixed with
the step that wrote it. The terminal shows a spinner, a counter or a bar per phase, read from those same lines: days
replayed, Dagster steps finished, dbt nodes done of planned. On a failure it prints the failing step and the last
lines that step logged.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# the deployment replay's daily line (pipelines/sandbox/harness/deployment_replay.py)
REPLAYED_DAY = re.compile(r"(\d{4}-\d{2}-\d{2}): the day's scheduled runs replayed")
# dbt's own node lines, re-emitted by dagster-dbt: "12 of 722 OK created sql view model …", "13 of 722 PASS …"
DBT_NODE_DONE = re.compile(r"\b(\d+) of (\d+) (OK|PASS|WARN|ERROR|FAIL|SKIP)\b")
# Dagster's step events (DEBUG level on its console logger)
STEP_DONE = re.compile(r" - ([\w.\[\]-]+) - STEP_(SUCCESS|FAILURE) - ")
RUN_SUCCEEDED = " - RUN_SUCCESS - "
TAIL_LINES = 30


class DemoProgress:
    """Phases on the terminal, child output in the log. Use as a context manager."""

    def __init__(self, home: Path, console: Console | None = None):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.log_path = home / "logs" / f"demo-{stamp}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.console = console or Console()
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description:<10}"),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[counter]}"),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[detail]}"),
            console=self.console,
        )
        self._log = None
        self.failed = False
        self._lock = threading.RLock()
        self._tails: dict[str, deque[str]] = {}

    def __enter__(self) -> DemoProgress:
        self._log = self.log_path.open("a", encoding="utf-8", buffering=1)
        self.console.print(f"[levwatch] Dagster's and dbt's logs: {self.log_path}", markup=False)
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the display (its last state stays on screen) and close the log; safe to call twice."""
        self.progress.stop()
        if self._log is not None and not self._log.closed:
            self._log.close()

    def say(self, message: str) -> None:
        """A line above the bars (and in the log)."""
        self.progress.console.print(f"[levwatch] {message}", highlight=False, markup=False)
        self.log("levwatch", message)

    def log(self, step: str, line: str) -> None:
        with self._lock:
            if not self._log.closed:
                self._log.write(f"[{step}] {line}\n")
            self._tails.setdefault(step, deque(maxlen=TAIL_LINES)).append(line)

    def start_phase(self, name: str, unit: str = "") -> Phase:
        return Phase(self, self.progress.add_task(name, total=None, counter="", detail=""), unit)

    @contextmanager
    def phase(self, name: str, unit: str = "") -> Iterator[Phase]:
        """A phase's line: a spinner (or a bar, once its total is known) while it runs, ✓ and its time when done."""
        phase = self.start_phase(name, unit)
        yield phase
        if self.failed:
            self.progress.update(phase.task, description=f"{name} FAILED")
        else:
            phase.finish()

    def replay_reader(self, phase: Phase, total_days: int) -> Callable[[str], None]:
        """Days replayed, of the scenario's days (the deployment replay prints one line a day)."""

        def read(line: str) -> None:
            match = REPLAYED_DAY.search(line)
            if match:
                phase.advance(total=total_days, detail=match[1])

        return read

    def backfill_reader(self, backfill: Phase) -> Callable[[str], None]:
        """Dagster steps finished (and the last one); dbt's nodes done of planned get their own line. The phase
        ends when the run succeeds, although processes run beside it may go on."""
        dbt: list[Phase] = []

        def read(line: str) -> None:
            if RUN_SUCCEEDED in line:
                backfill.finish()
                return
            node = DBT_NODE_DONE.search(line)
            if node:
                if not dbt:
                    dbt.append(self.start_phase("dbt", "nodes"))
                dbt[0].advance(
                    total=int(node[2]), detail=node[3].lower() + " " + line[node.end() :].strip()[:50]
                )
                return
            step = STEP_DONE.search(line)
            if step:
                if dbt and not dbt[0].done:
                    dbt[0].finish()
                backfill.advance(detail=step[1] + (" FAILED" if step[2] == "FAILURE" else ""))

        return read

    def run(
        self,
        processes: dict[str, list[str]],
        env: dict[str, str],
        read: Callable[[str], None] | None = None,
        *,
        env_of: dict[str, dict[str, str]] | None = None,
    ) -> tuple[str, int] | None:
        """Run the named commands side by side (each in `env`, or in its own from `env_of`), their output into the
        log (and through `read`); None when all succeed, else the first failure's (name, exit code), the others
        stopped."""
        children = {
            name: subprocess.Popen(
                argv,
                env=(env_of or {}).get(name, env),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            for name, argv in processes.items()
        }

        def pump(name: str, child: subprocess.Popen) -> None:
            for raw in child.stdout:
                line = ANSI.sub("", raw.rstrip("\n"))
                self.log(name, line)
                if read is not None:
                    with self._lock:
                        read(line)

        readers = [threading.Thread(target=pump, args=item, daemon=True) for item in children.items()]
        for reader in readers:
            reader.start()
        failure = None
        pending = dict(children)
        while pending and failure is None:
            for name, child in list(pending.items()):
                code = child.poll()
                if code is None:
                    continue
                del pending[name]
                if code != 0:
                    failure = (name, code)
                    self.failed = True
            time.sleep(0.1)
        for child in pending.values():
            child.terminate()  # a wrapper (`levwatch sandbox run`) passes it on to its command
        for child in pending.values():
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for reader in readers:
            reader.join(timeout=5)
        return failure

    def fail(self, step: str, code: int, log_of: str | None = None) -> int:
        """The failing step, and the last lines it (or the process `log_of`) logged."""
        self.failed = True
        self.progress.stop()
        tail = list(self._tails.get(log_of or step, ()))
        self.console.print(
            f"[levwatch] {step} failed (exit {code}). Its last {len(tail)} log lines:",
            style="red",
            markup=False,
        )
        for line in tail:
            self.console.print(f"  {line}", highlight=False, markup=False)
        self.console.print(f"[levwatch] the whole log: {self.log_path}", markup=False)
        return code


class Phase:
    """One line of the display: a counter, a bar once the total is known, and a detail (the latest item)."""

    def __init__(self, owner: DemoProgress, task: TaskID, unit: str):
        self.owner, self.task, self.unit = owner, task, unit
        self.count, self.total, self.done = 0, None, False

    def advance(self, *, total: int | None = None, detail: str = "") -> None:
        self.count += 1
        self.total = total or self.total
        counter = f"{self.count:,}" + (f"/{self.total:,}" if self.total else "") + f" {self.unit}"
        self.owner.progress.update(
            self.task, completed=self.count, total=self.total, counter=counter, detail=detail
        )

    def finish(self) -> None:
        self.done = True
        total = self.total or max(self.count, 1)
        self.owner.progress.update(self.task, completed=total, total=total, detail="")
