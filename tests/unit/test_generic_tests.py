"""The project's own generic data tests (dbt_project/tests/generic), run as SQL on tables made by hand, and the YAML
rule that keeps a model's key in one test node."""

import re

import duckdb
import jinja2
import pytest
import yaml

from tests.unit.test_mart_contracts import DBT


def generic_test_sql(name: str, **arguments) -> str:
    """The generic test's SQL as dbt compiles it: its `{% test %}` block is a macro named test_<name>."""
    source = (DBT / "tests" / "generic" / f"{name}.sql").read_text()
    source = re.sub(r"{%\s*test\s+", "{% macro test_", source).replace("{% endtest %}", "{% endmacro %}")
    module = jinja2.Environment().from_string(source).module
    return getattr(module, f"test_{name}")(**arguments)


@pytest.fixture
def con():
    with duckdb.connect() as con:
        yield con


def failing_rows(con, rows: list[tuple]) -> list[tuple]:
    con.execute("create or replace table t (venue varchar, ts integer, value double)")
    if rows:
        con.executemany("insert into t values (?, ?, ?)", rows)
    return con.execute(generic_test_sql("primary_key", model="t", column_names=["venue", "ts"])).fetchall()


def test_primary_key_passes_a_table_whose_key_is_unique_and_never_null(con):
    assert failing_rows(con, [("okx", 1, 1.0), ("okx", 2, None), ("bybit", 1, 3.0)]) == []
    assert failing_rows(con, []) == []


def test_primary_key_fails_on_each_duplicated_key_once(con):
    rows = [("okx", 1, 1.0), ("okx", 1, 2.0), ("okx", 1, 3.0), ("bybit", 1, 1.0), ("bybit", 1, 1.0)]
    assert sorted(failing_rows(con, rows)) == [("bybit", 1, 2), ("okx", 1, 3)]


def test_primary_key_fails_on_a_null_in_any_key_column_even_when_unique(con):
    # what a not_null test per key column caught: a null key is one group of one row, so uniqueness alone misses it
    assert failing_rows(con, [("okx", None, 1.0), ("bybit", 1, 1.0)]) == [("okx", None, 1)]
    assert failing_rows(con, [(None, 7, 1.0), ("bybit", 1, 1.0)]) == [(None, 7, 1)]


def test_a_null_in_a_column_outside_the_key_is_not_a_failure(con):
    assert failing_rows(con, [("okx", 1, None)]) == []


def model_yamls():
    for path in sorted((DBT / "models").rglob("*.yml")):
        yield from yaml.safe_load(path.read_text()).get("models", [])


def key_of(model: dict, test: str) -> list[str] | None:
    for entry in model.get("data_tests") or []:
        if isinstance(entry, dict) and test in entry:
            arguments = entry[test]["arguments"]
            return arguments["column_names" if test == "primary_key" else "combination_of_columns"]
    return None


def test_a_key_whose_columns_are_all_tested_not_null_is_one_primary_key_test():
    """A unique_combination_of_columns plus a not_null test on each of its columns is what primary_key asserts in
    one node (the same two checks, one scan); a primary_key's columns carry no not_null test of their own."""
    for model in model_yamls():
        not_null = {c["name"] for c in model.get("columns", []) if "not_null" in (c.get("data_tests") or [])}
        combination = key_of(model, "unique_combination_of_columns")
        if combination is not None:
            assert not set(combination) <= not_null, f"{model['name']}: use primary_key"
        primary = key_of(model, "primary_key")
        if primary is not None:
            assert not set(primary) & not_null, f"{model['name']}: primary_key already checks {primary}"


def test_the_project_declares_primary_keys():
    assert sum(key_of(model, "primary_key") is not None for model in model_yamls()) >= 60
