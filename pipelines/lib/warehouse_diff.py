"""Two warehouses, table by table: the same tables, columns and rows? For a refactor that must leave every mart
figure unchanged (build the demo before and after, then compare the two files).

Rows are compared as multisets (order never matters). Floating-point columns are compared at `digits` significant
digits, so a change in summation order (a different plan, another DuckDB version) is not a difference, while any
real change of a figure is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


@dataclass
class TableDiff:
    table: str
    problem: str
    only_before: list[tuple] = field(default_factory=list)  # a few rows, for the reader
    only_after: list[tuple] = field(default_factory=list)


def _tables(
    con: duckdb.DuckDBPyConnection, catalog: str, schemas: tuple[str, ...]
) -> dict[str, dict[str, str]]:
    rows = con.execute(
        """
        select table_schema || '.' || table_name, column_name, data_type
        from information_schema.columns
        where table_catalog = ? and list_contains(?, table_schema)
        order by table_schema, table_name, ordinal_position
        """,
        [catalog, list(schemas)],
    ).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, {})[column] = data_type
    return tables


def _comparable(column: str, data_type: str, digits: int) -> str:
    quoted = '"' + column.replace('"', '""') + '"'
    if data_type.upper() in FLOAT_TYPES:
        return f"printf('%.{digits}g', {quoted}) as {quoted}"
    return quoted


def _rows_only_in(con, select: str, schema: str, name: str, a: str, b: str) -> list[tuple]:
    """The rows of a's table that b's lacks, counted with multiplicity (EXCEPT ALL)."""
    return con.execute(
        f'select {select} from {a}."{schema}"."{name}" except all select {select} from {b}."{schema}"."{name}"'
    ).fetchall()


def compare(
    before: Path, after: Path, *, schemas: tuple[str, ...] = ("marts",), digits: int = 9, sample: int = 3
) -> list[TableDiff]:
    """Every difference between the two files' tables in `schemas` (an empty list: the same figures)."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{before}' as before_db (read_only)")
        con.execute(f"attach '{after}' as after_db (read_only)")
        old, new = _tables(con, "before_db", schemas), _tables(con, "after_db", schemas)
        diffs = [TableDiff(t, "only in the first warehouse") for t in sorted(old.keys() - new.keys())]
        diffs += [TableDiff(t, "only in the second warehouse") for t in sorted(new.keys() - old.keys())]
        for table in sorted(old.keys() & new.keys()):
            if old[table] != new[table]:
                diffs.append(TableDiff(table, f"columns differ: {old[table]} vs {new[table]}"))
                continue
            select = ", ".join(_comparable(c, t, digits) for c, t in old[table].items())
            schema, name = table.split(".")
            only_before = _rows_only_in(con, select, schema, name, "before_db", "after_db")
            only_after = _rows_only_in(con, select, schema, name, "after_db", "before_db")
            if only_before or only_after:
                diffs.append(
                    TableDiff(
                        table,
                        f"{len(only_before)} rows only in the first, {len(only_after)} only in the second",
                        only_before[:sample],
                        only_after[:sample],
                    )
                )
        return diffs
    finally:
        con.close()


def table_count(path: Path, schemas: tuple[str, ...] = ("marts",)) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        catalog = con.execute("select current_database()").fetchone()[0]
        return len(_tables(con, catalog, schemas))
