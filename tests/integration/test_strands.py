"""A strand builds on its own: a raw asset and everything downstream of it, selected alone on a fresh home.

Two levels, to stay cheap. Every mart domain (a folder under dbt_project/models/marts/) is planned from the real
Definitions and manifest: the selection `raw assets of the domain, and downstream` plus the prerequisites the dbt
asset builds first on a fresh warehouse must be closed under dbt's own dependencies, else dbt would read a table
that does not exist. One strand, the ETF flows of issue 14 (`raw/farside/etf_flows*`), is then materialized for
real, in process, on a fresh home against the session sandbox (~30-45 s on a shared 2-core machine, mostly dbt's
two re-parses): each further strand would cost as much again and exercises the same code path.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, AssetsDefinition, AssetSelection, AssetSpec, DagsterInstance, materialize

from pipelines.defs.warehouse.dbt import BUILDABLE, DBT_PROJECT, TRANSLATOR, buildable_parents, dbt_resource
from pipelines.lib.dbt_prerequisites import missing_prerequisites
from pipelines.orchestration.resources import VenueGateway
from pipelines.warehouse import build_path

MARTS_DIR = Path("models") / "marts"
DAY = "2025-10-10"  # a Friday of the small scenario: the funds have flows


@pytest.fixture(scope="module")
def defs():
    from pipelines.definitions import defs

    return defs


@pytest.fixture(scope="module")
def manifest():
    return json.loads(DBT_PROJECT.manifest_path.read_text())


def domains(manifest) -> dict[str, set[str]]:
    """Mart folder -> the unique ids of its marts."""
    out: dict[str, set[str]] = {}
    for uid, node in manifest["nodes"].items():
        path = Path(node["original_file_path"])
        if node["resource_type"] == "model" and MARTS_DIR in path.parents:
            out.setdefault(path.parent.name, set()).add(uid)
    return out


def upstream_sources(manifest, uids: set[str]) -> set[str]:
    seen, stack, sources = set(), list(uids), set()
    while stack:
        uid = stack.pop()
        if uid in seen:
            continue
        seen.add(uid)
        if uid in manifest["sources"]:
            sources.add(uid)
        else:
            stack.extend(manifest["nodes"][uid]["depends_on"].get("nodes", []))
    return sources


def test_every_dbt_source_reads_an_asset_exactly_one_definition_produces(defs, manifest):
    """One writer per dataset, and lineage that does not break at the lake: each source's asset key is defined by
    exactly one entry of the Definitions (an asset or multi-asset that writes it; the two run logs, appended by
    every ingest step, and CoinGlass without a key, as declared specs)."""
    defined: dict[AssetKey, int] = {}
    for entry in defs.assets:
        if isinstance(entry, AssetSpec):
            keys = [entry.key]
        else:
            assert isinstance(entry, AssetsDefinition)
            keys = list(entry.keys)
        for key in keys:
            defined[key] = defined.get(key, 0) + 1
    sources = {TRANSLATOR.get_asset_key(src) for src in manifest["sources"].values()}
    assert {
        AssetKey(["raw", "binance", "liquidation_gaps"]),
        AssetKey(["raw", "farside", "etf_flows_csv"]),
    } <= sources
    wrong = {key.to_user_string(): defined.get(key, 0) for key in sources if defined.get(key, 0) != 1}
    assert wrong == {}
    # the recorder's events and gaps come from one step: two outputs of one multi-asset
    events = defs.resolve_assets_def(AssetKey(["raw", "bybit", "liquidations"]))
    assert AssetKey(["raw", "bybit", "liquidation_gaps"]) in events.keys


def test_every_domain_selected_alone_plans_a_build_dbt_can_run_on_a_fresh_warehouse(defs, manifest):
    graph = defs.resolve_asset_graph()
    key_of = {uid: TRANSLATOR.get_asset_key(n) for uid, n in manifest["nodes"].items()}
    parents = buildable_parents(manifest)
    found = domains(manifest)
    assert {
        "flows",
        "leverage",
        "liquidations",
        "lending",
        "options",
        "contagion",
        "risk",
        "operations",
    } <= set(found)
    for domain, marts in sorted(found.items()):
        raw = {TRANSLATOR.get_asset_key(manifest["sources"][s]) for s in upstream_sources(manifest, marts)}
        selection = AssetSelection.keys(*raw).downstream().resolve(graph)
        selected = {uid for uid, key in key_of.items() if key in selection}
        assert marts <= selected, domain
        build = selected | missing_prerequisites(parents, selected, existing=set())
        for uid in build:  # dbt's own dependency list, not the helper's view of it
            for parent in manifest["nodes"][uid]["depends_on"].get("nodes", []):
                node = manifest["nodes"].get(parent)
                if node is not None and node["resource_type"] in BUILDABLE:
                    assert parent in build, f"{domain}: {uid} reads {parent}, which nothing builds"
        # on a warehouse that holds everything, nothing extra is built: full and repeated runs are unchanged
        assert missing_prerequisites(parents, selected, existing=set(parents)) == set()


def test_the_etf_strand_materializes_alone_on_a_fresh_home(defs, sandbox, tmp_path):
    gateway = VenueGateway(home=str(tmp_path), source="sandbox", sandbox_url=sandbox.url)
    resources = {**defs.resources, "venue_gateway": gateway, "dbt": dbt_resource()}
    selection = AssetSelection.keys(AssetKey(["raw", "farside", "etf_flows"])).downstream()
    result = materialize(
        list(defs.assets),
        selection=selection,
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        partition_key=DAY,
    )
    assert result.success
    done = {e.asset_key for e in result.get_asset_materialization_events()}
    assert {AssetKey(["marts", "etf_flows_daily"]), AssetKey(["marts", "systemic_risk_daily"])} <= done
    # the prerequisites are another strand's: built (empty, nothing of theirs in the lake) but not reported
    assert AssetKey(["marts", "leverage_daily"]) not in done

    lake = pq.read_table(tmp_path / "lake" / "farside" / "etf_flows" / f"date={DAY}" / "data.parquet")
    assert lake.num_rows > 0
    with duckdb.connect(str(build_path(tmp_path)), read_only=True) as con:
        rows, total = con.execute(
            "select count(*), sum(flow_usd) from marts.etf_flows_daily where date = ?", [DAY]
        ).fetchone()
        assert con.execute("select count(*) from marts.leverage_daily").fetchone() == (0,)
    assert rows == lake.num_rows
    assert total == pytest.approx(sum(v for v in lake.column("flow_usd").to_pylist() if v is not None))
