"""Before/after for a refactor: the same mart figures and the same demo summary?

    python -m tests.bench.compare_warehouses OLD_HOME NEW_HOME   # two whole $LEVWATCH_HOME folders, each after
                                                                 # `make demo` (the summary reads the lake too)

Compares every table of the `marts` schema in the two published warehouses (rows as multisets, floating-point
columns at 9 significant digits: pipelines/lib/warehouse_diff.py), then the demo summary each one prints, line by
line (the lines naming the warehouse's path are left out). Exit status 1 on any difference.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from pipelines.lib.warehouse_diff import compare, table_count
from pipelines.report import summary
from pipelines.warehouse import published_path


def _summary_lines(home: Path) -> list[str]:
    return [line for line in summary(home).splitlines() if str(home) not in line]


def main(old_home: Path, new_home: Path) -> int:
    old, new = published_path(old_home), published_path(new_home)
    diffs = compare(old, new)
    print(f"marts: {table_count(old)} tables in {old}, {table_count(new)} in {new}")
    for diff in diffs:
        print(f"DIFF {diff.table}: {diff.problem}")
        for row in diff.only_before:
            print(f"   - {row}")
        for row in diff.only_after:
            print(f"   + {row}")
    summary_diff = list(
        difflib.unified_diff(
            _summary_lines(old_home), _summary_lines(new_home), "before", "after", lineterm=""
        )
    )
    print("\n".join(summary_diff) if summary_diff else "summary: the same lines")
    same = not diffs and not summary_diff
    print("SAME figures" if same else "DIFFERENT figures")
    return 0 if same else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
