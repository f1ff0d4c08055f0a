"""The before/after comparison of two warehouses (pipelines/lib/warehouse_diff.py) on hand-made files."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.lib.warehouse_diff import compare


def _warehouse(path, rows, *, extra_table: bool = False, extra_column: bool = False):
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema staging")
        column = ", note varchar" if extra_column else ""
        con.execute(f"create table marts.daily (date date, asset varchar, usd double{column})")
        for row in rows:
            con.execute(f"insert into marts.daily values (?, ?, ?{', null' if extra_column else ''})", row)
        con.execute("create table staging.ignored as select 1 as x")  # only marts are compared
        if extra_table:
            con.execute("create table marts.extra as select 1 as x")
    return path


ROWS = [("2025-10-10", "BTC", 17.07e9), ("2025-10-10", "ETH", 0.76e9), ("2025-10-11", "BTC", 1.0)]


def test_the_same_rows_in_another_order_and_summed_differently_are_the_same(tmp_path):
    before = _warehouse(tmp_path / "a.duckdb", ROWS)
    # 0.1 + 0.2 != 0.3 in binary: a change of summation order, not of the figure
    after = _warehouse(
        tmp_path / "b.duckdb", [ROWS[2], ROWS[1], (ROWS[0][0], ROWS[0][1], 17.07e9 * (0.1 + 0.2) / 0.3)]
    )
    assert 17.07e9 * (0.1 + 0.2) / 0.3 != 17.07e9
    assert compare(before, after) == []


def test_a_changed_figure_is_named_with_its_rows(tmp_path):
    before = _warehouse(tmp_path / "a.duckdb", ROWS)
    after = _warehouse(tmp_path / "b.duckdb", [*ROWS[:2], ("2025-10-11", "BTC", 1.001)])
    [diff] = compare(before, after)
    assert diff.table == "marts.daily"
    assert diff.problem == "1 rows only in the first, 1 only in the second"
    assert [row[2] for row in diff.only_before] == ["1"] and [row[2] for row in diff.only_after] == ["1.001"]


def test_a_duplicated_row_is_a_difference(tmp_path):
    before = _warehouse(tmp_path / "a.duckdb", ROWS)
    after = _warehouse(tmp_path / "b.duckdb", [*ROWS, ROWS[0]])
    [diff] = compare(before, after)
    assert diff.problem == "0 rows only in the first, 1 only in the second"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"extra_table": True}, "only in the second warehouse"),
        ({"extra_column": True}, "columns differ"),
    ],
)
def test_tables_and_columns_must_match(tmp_path, kwargs, problem):
    before = _warehouse(tmp_path / "a.duckdb", ROWS)
    after = _warehouse(tmp_path / "b.duckdb", ROWS, **kwargs)
    [diff] = compare(before, after)
    assert diff.problem.startswith(problem)
