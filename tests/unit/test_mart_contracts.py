"""Every mart has an enforced contract (dbt_project.yml), so DuckDB itself refuses a null in a column the contract
declares not null: the build fails before anyone reads the table. A `not_null` data test on such a column would
only re-check, after the build, what the build already refused, at the cost of one more dbt node per column."""

from pathlib import Path

import yaml

DBT = Path(__file__).resolve().parents[2] / "dbt_project"


def mart_columns():
    """(model YAML, column YAML) for every column of every mart."""
    for path in sorted((DBT / "models" / "marts").rglob("*.yml")):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            for column in model.get("columns", []):
                yield model, column


def declares_not_null(column: dict) -> bool:
    return "not_null" in {c.get("type") for c in column.get("constraints", [])}


def test_marts_are_built_under_an_enforced_contract():
    marts = yaml.safe_load((DBT / "dbt_project.yml").read_text())["models"]["levwatch"]["marts"]
    assert marts["+contract"] == {"enforced": True}


def test_no_mart_column_repeats_its_not_null_constraint_as_a_data_test():
    repeated = []
    for model, column in mart_columns():
        assert (model.get("config") or {}).get("contract", {}).get("enforced", True), model["name"]
        if declares_not_null(column) and "not_null" in column.get("data_tests", []):
            repeated.append(f"{model['name']}.{column['name']}")
    assert repeated == [], "the contract's not_null constraint already enforces these: drop the data test"
