"""missing_prerequisites on small graphs solved by hand."""

from pipelines.lib.dbt_prerequisites import missing_prerequisites

# seed -> stg -> int -> mart_a; mart_b reads mart_a and other; report reads mart_b
PARENTS = {
    "seed": [],
    "stg": [],
    "int": ["stg", "seed"],
    "mart_a": ["int"],
    "other": [],
    "mart_b": ["mart_a", "other"],
    "report": ["mart_b"],
}


def test_a_fresh_warehouse_needs_every_unselected_ancestor():
    assert missing_prerequisites(PARENTS, {"mart_b", "report"}, existing=set()) == {
        "mart_a",
        "int",
        "stg",
        "seed",
        "other",
    }


def test_an_ancestor_already_built_stops_the_walk():
    # int exists: mart_a is rebuilt from it, and int's own inputs are not needed
    assert missing_prerequisites(PARENTS, {"mart_b"}, existing={"int", "other"}) == {"mart_a"}


def test_selected_and_built_nodes_are_never_prerequisites():
    assert missing_prerequisites(PARENTS, {"mart_a", "mart_b"}, existing={"other", "int"}) == set()
    assert missing_prerequisites(PARENTS, set(PARENTS), existing=set()) == set()
