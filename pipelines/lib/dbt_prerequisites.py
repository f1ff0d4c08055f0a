"""What a partial dbt build needs first: the models and seeds outside the selection that the warehouse lacks.

Selecting one strand in Dagster (say `raw/farside/etf_flows*`) selects its raw asset and everything downstream,
and some downstream models also read models of other strands (etf_flows_daily reads leverage_daily for the
underlying's return; the contagion and risk marts read every strand). On a warehouse that already holds those
models, dbt uses them as they stand. On a fresh warehouse they do not exist, and the build would fail on the first
reference. The missing ones are built first, from whatever the lake holds for them (an empty strand's anchor file
gives an empty table), so a strand builds on its own.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping


def missing_prerequisites(
    parents: Mapping[str, Iterable[str]], selected: Iterable[str], existing: Collection[str]
) -> set[str]:
    """The nodes outside `selected` that must be built before it: walking up from the selection, every ancestor
    that is neither selected nor already in the warehouse, and in turn its own missing ancestors. An ancestor that
    exists stops the walk there: it is read as it stands, as a partial dbt build would read it.

    `parents` maps each buildable node (model, seed, snapshot) to its buildable parents; nodes missing from it
    (sources, which read the lake directly) have none. `existing` holds the nodes whose relation is built."""
    chosen = set(selected)
    needed: set[str] = set()
    stack = [p for node in chosen for p in parents.get(node, ())]
    while stack:
        node = stack.pop()
        if node in chosen or node in needed or node in existing:
            continue
        needed.add(node)
        stack.extend(parents.get(node, ()))
    return needed
