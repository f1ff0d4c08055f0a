"""dbt models as Dagster assets: the partition window goes to dbt once per run, then the warehouse is published."""

import json
import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from pipelines import duckdb_extensions
from pipelines.defs.partitions import DAILY, SINGLE_RUN
from pipelines.defs.resources import VenueGateway
from pipelines.lib.dbt_prerequisites import missing_prerequisites
from pipelines.settings import load_settings
from pipelines.warehouse import attach_ducklake, build_path, publish, publish_ducklake

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# The dbt installed next to this interpreter, so it is found even when the venv is not on PATH.
_VENV_DBT = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else (shutil.which("dbt") or "dbt")


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=DBT_EXECUTABLE)


def ensure_manifest(project: DbtProject = DBT_PROJECT) -> Path:
    """Parse the dbt project when its manifest is missing or older than any model, seed or macro."""
    manifest = project.manifest_path
    newest_source = max(
        (
            p.stat().st_mtime
            for sub in ("models", "macros", "seeds", "tests")
            for p in (project.project_dir / sub).rglob("*")
            if p.is_file()
        ),
        default=0.0,
    )
    newest_source = max(newest_source, (project.project_dir / "dbt_project.yml").stat().st_mtime)
    if not manifest.exists() or manifest.stat().st_mtime < newest_source:
        dbt_resource().cli(["--quiet", "parse"], target_path=project.target_path).wait()
    return manifest


class LevwatchTranslator(DagsterDbtTranslator):
    """Sources map onto the raw lake assets; models are keyed <layer>/<model>, e.g. marts/leverage_daily."""

    def get_asset_key(self, dbt_resource_props: dict[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            # a source may name its asset key explicitly in meta.dagster.asset_key
            declared = (dbt_resource_props.get("meta") or {}).get("dagster", {}).get("asset_key")
            if declared:
                return AssetKey(declared)
            return AssetKey(["raw", dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: dict[str, Any]) -> str | None:
        return "warehouse"


# Two sources may read one asset's files: the OKX liquidations and their parquet metadata (observed windows).
TRANSLATOR = LevwatchTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_duplicate_source_asset_keys=True)
)


def lake_sources() -> list[tuple[str, str]]:
    """Every (venue, dataset) a dbt source reads: each needs its anchor file before dbt resolves the glob.
    A source reading another view of a dataset's files (their metadata) names it in meta.lake_dataset."""
    manifest = json.loads(DBT_PROJECT.manifest_path.read_text())
    return sorted(
        {
            (src["source_name"], src["meta"].get("lake_dataset", src["name"]))
            for src in manifest["sources"].values()
        }
    )


BUILDABLE = ("model", "seed", "snapshot")


def buildable_parents(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Each model, seed and snapshot with the models, seeds and snapshots it reads (sources read the lake)."""
    nodes = manifest["nodes"]
    return {
        uid: [
            p
            for p in node["depends_on"].get("nodes", [])
            if p in nodes and nodes[p]["resource_type"] in BUILDABLE
        ]
        for uid, node in nodes.items()
        if node["resource_type"] in BUILDABLE
    }


def built_nodes(db_path: Path, manifest: dict[str, Any]) -> set[str]:
    """The buildable nodes whose table or view exists in the working DuckDB file (none when it does not exist),
    or in the DuckLake catalog (LEVWATCH_WAREHOUSE=ducklake)."""
    relations = _relations(db_path)
    return {
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in BUILDABLE
        and (node["schema"], node.get("alias") or node["name"]) in relations
    }


def _relations(db_path: Path) -> set[tuple[str, str]]:
    query = "select table_schema, table_name from information_schema.tables"
    settings = load_settings()
    if settings.warehouse == "ducklake":
        with duckdb_extensions.connect() as con:
            attach_ducklake(con, settings, read_only=False)  # the writer's step: makes a new catalog
            return set(con.execute(f"{query} where table_catalog = 'levwatch'").fetchall())
    if not db_path.exists():
        return set()
    with duckdb.connect(str(db_path), read_only=True) as con:
        return set(con.execute(query).fetchall())


def selected_nodes(context: AssetExecutionContext, manifest: dict[str, Any]) -> set[str]:
    """The dbt nodes this run materializes, from the Dagster asset selection."""
    wanted = set(context.selected_asset_keys)
    return {
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in BUILDABLE and TRANSLATOR.get_asset_key(node) in wanted
    }


def build_prerequisites(
    context: AssetExecutionContext, dbt: DbtCliResource, db_path: Path, dbt_vars: dict[str, str]
) -> list[str]:
    """Build (tests aside) what the selection reads but the warehouse lacks, so a strand selected on its own
    builds on a fresh warehouse; nothing when everything is selected or already built. Those nodes belong to
    other strands: they are built from whatever the lake holds, and not reported as materialized here."""
    manifest = json.loads(DBT_PROJECT.manifest_path.read_text())
    parents = buildable_parents(manifest)
    selected = selected_nodes(context, manifest)
    if selected >= set(parents):  # the whole project (the schedules' runs): nothing outside it to need
        return []
    needed = missing_prerequisites(parents, selected, built_nodes(db_path, manifest))
    if not needed:
        return []
    names = sorted(manifest["nodes"][uid]["name"] for uid in needed)
    context.log.info(f"building {len(names)} models and seeds this selection reads but the warehouse lacks")
    args = ["build", "--select", " ".join(names), "--vars", json.dumps(dbt_vars)]
    args += ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    dbt.cli(args, manifest=DBT_PROJECT.manifest_path, dagster_dbt_translator=TRANSLATOR).wait()
    return names


def dbt_vars_for(context: AssetExecutionContext) -> dict[str, str]:
    """The run's whole partition window as one inclusive day range: one parse, one build."""
    window = context.partition_time_window
    return {
        "start_date": window.start.date().isoformat(),
        "end_date": (window.end - timedelta(days=1)).date().isoformat(),
    }


@dbt_assets(
    manifest=ensure_manifest(),
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    pool="duckdb_writer",  # one writer at a time for the working DuckDB file
)
def levwatch_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, venue_gateway: VenueGateway):
    home = Path(venue_gateway.home)
    os.environ["LEVWATCH_HOME"] = str(home)  # dbt's sources and profile read it
    if venue_gateway.lake_url:  # the sources read the same lake as the raw assets wrote
        os.environ["LEVWATCH_LAKE_URL"] = venue_gateway.lake_url
    lake = venue_gateway.lake
    for venue, dataset in lake_sources():
        lake.ensure_anchor(venue, dataset)
    (home / "build").mkdir(parents=True, exist_ok=True)
    dbt_vars = dbt_vars_for(context)
    db_path = Path(os.environ.get("LEVWATCH_DBT_DB_PATH") or build_path(home))
    build_prerequisites(context, dbt, db_path, dbt_vars)
    context.log.info(f"dbt build for {dbt_vars['start_date']}..{dbt_vars['end_date']}")
    yield from dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context).stream()
    settings = load_settings()
    if settings.warehouse == "ducklake":
        snapshot = publish_ducklake(settings)
        context.log.info(f"published DuckLake snapshot {snapshot}: readers see this build from now on")
        return
    published = publish(home)
    context.log.info(f"published the warehouse at {published}")
