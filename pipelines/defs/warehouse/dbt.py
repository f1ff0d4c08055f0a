"""dbt models as Dagster assets: the partition window goes to dbt once per run, then the warehouse is published."""

import fcntl
import json
import os
import pprint
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
from dagster import AssetExecutionContext, AssetKey, Definitions
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from pipelines import duckdb_extensions
from pipelines.lib.dbt_prerequisites import missing_prerequisites
from pipelines.orchestration.executor import pool_tag
from pipelines.orchestration.partitions import DAILY, SINGLE_RUN
from pipelines.orchestration.resources import VenueGateway
from pipelines.settings import Settings, load_settings
from pipelines.warehouse import attach_ducklake, build_path, publish, publish_ducklake

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# The dbt installed next to this interpreter, so it is found even when the venv is not on PATH.
_VENV_DBT = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else (shutil.which("dbt") or "dbt")


# -- one dbt parse shared by every invocation, whatever the home and the window --------------------------------------
# A full parse of the project costs ~20 s of CPU; dbt reuses its last parse (partial_parse.msgpack) only when the
# command-line vars, the profile's connection values and the files are unchanged. So the run window reaches the
# models in environment variables read at run time (macros/run_window.sql), the sources name lake files relative
# to the home (macros/source.sql adds the home while executing), and each invocation starts from the parse made in
# the canonical environment below, marked as made with its own profile: the home only decides where the files are.
WINDOW_ENV = {"start_date": "LEVWATCH_DBT_START_DATE", "end_date": "LEVWATCH_DBT_END_DATE"}
HOME_ENV = ("LEVWATCH_HOME", "LEVWATCH_DBT_DB_PATH")
PARTIAL_PARSE = "partial_parse.msgpack"


def canonical_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the shared parse is made in: no home (the profile's defaults) and no window."""
    return {
        k: v
        for k, v in (os.environ if env is None else env).items()
        if k not in (*HOME_ENV, *WINDOW_ENV.values())
    }


def _profile_connection(env: Mapping[str, str]) -> list[tuple[str, Any]]:
    """The profile's connection values as dbt hashes them for its partial-parse check (ManifestLoader)."""
    from argparse import Namespace

    from dbt.config.runtime import load_profile
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    set_invocation_context(dict(env))
    try:
        set_from_args(Namespace(profiles_dir=str(DBT_PROJECT_DIR)), None)
        return sorted(load_profile(str(DBT_PROJECT_DIR), {}, None, None).credentials.connection_info())
    finally:
        set_invocation_context(os.environ.copy())


def _home_free(connection: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The connection values without what only says where the home is: the database file's folder (and a DuckDB
    file_search_path, should one be set). Nothing in the project reads either while parsing."""
    kept = []
    for key, value in connection:
        if key == "path":
            value = Path(str(value)).name
        elif key == "settings":
            value = {k: v for k, v in (value or {}).items() if k != "file_search_path"}
        kept.append((key, value))
    return kept


def _profile_hash(connection: list[tuple[str, Any]]) -> str:
    from dbt.contracts.files import FileHash

    return FileHash.from_contents(pprint.pformat(connection)).checksum


def ensure_manifest(project: DbtProject = DBT_PROJECT) -> Path:
    """Parse the dbt project, in the canonical environment, when its parse is missing, older than any model, seed
    or macro, or made in another environment (`make setup` parses it as below)."""
    manifest = project.manifest_path
    state = manifest.with_name(PARTIAL_PARSE)
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
    newest_source = max(newest_source, (project.project_dir / "profiles.yml").stat().st_mtime)

    def fresh() -> bool:
        return (
            manifest.exists()
            and state.exists()
            and min(manifest.stat().st_mtime, state.stat().st_mtime) >= newest_source
            and _state_check(state)["profile_hash"]["checksum"]
            == _profile_hash(_profile_connection(canonical_env()))
        )

    if not fresh():
        manifest.parent.mkdir(parents=True, exist_ok=True)
        with open(manifest.parent / ".parse.lock", "w") as lock:  # pytest-xdist workers import this together
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not fresh():
                subprocess.run(
                    [DBT_EXECUTABLE, "--quiet", "parse", "--profiles-dir", str(project.profiles_dir)],
                    cwd=project.project_dir,
                    env=canonical_env(),
                    check=True,
                )
    return manifest


def _state_check(state: Path) -> dict[str, Any]:
    import msgpack

    return msgpack.unpackb(state.read_bytes(), raw=False, strict_map_key=False)["state_check"]


def share_parse(target_path: Path, env: Mapping[str, str]) -> bool:
    """Put the shared parse in an invocation's target folder, marked as made with this environment's profile, when
    the two profiles differ only in where the home is. dbt still re-parses any file changed since. False (dbt
    parses in full) when the profile differs in anything else."""
    import msgpack

    state = DBT_PROJECT.manifest_path.with_name(PARTIAL_PARSE)
    if not state.exists():
        return False
    connection = _profile_connection(env)
    if _home_free(connection) != _home_free(_profile_connection(canonical_env(env))):
        return False
    parse = msgpack.unpackb(state.read_bytes(), raw=False, strict_map_key=False)
    parse["state_check"]["profile_hash"]["checksum"] = _profile_hash(connection)
    target_path.mkdir(parents=True, exist_ok=True)
    staged = target_path / f".{PARTIAL_PARSE}.tmp"
    staged.write_bytes(msgpack.packb(parse))
    staged.replace(target_path / PARTIAL_PARSE)
    return True


def window_env(start_date: str, end_date: str) -> dict[str, str]:
    """The run window (inclusive 'YYYY-MM-DD' days) as macros/run_window.sql reads it."""
    return {WINDOW_ENV["start_date"]: start_date, WINDOW_ENV["end_date"]: end_date}


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class LevwatchDbtCli(DbtCliResource):
    """dagster-dbt's dbt CLI, starting each invocation from the shared parse (see share_parse)."""

    def cli(self, args, *, target_path: Path | None = None, context=None, window=None, env=None, **kwargs):  # noqa: ANN001
        """As DbtCliResource.cli; `window` = (start_date, end_date) and `env` (the home, the lake) go to this one
        invocation's environment: dagster-dbt copies os.environ when it starts dbt, and the values are restored
        right after, so nothing leaks into the process or the next invocation."""
        target_path = target_path or self._get_unique_target_path(context=context)
        if not target_path.is_absolute():
            target_path = Path(self.project_dir).joinpath(target_path)
        with _environ({**(env or {}), **(window_env(*window) if window else {})}):
            share_parse(target_path, os.environ)
            return super().cli(args, target_path=target_path, context=context, **kwargs)  # starts dbt


def dbt_resource() -> DbtCliResource:
    return LevwatchDbtCli(project_dir=DBT_PROJECT, dbt_executable=DBT_EXECUTABLE)


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


def built_nodes(db_path: Path, manifest: dict[str, Any], settings: Settings | None = None) -> set[str]:
    """The buildable nodes whose table or view exists in the working DuckDB file (none when it does not exist),
    or in the DuckLake catalog (LEVWATCH_WAREHOUSE=ducklake)."""
    relations = _relations(db_path, settings or load_settings())
    return {
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in BUILDABLE
        and (node["schema"], node.get("alias") or node["name"]) in relations
    }


def _relations(db_path: Path, settings: Settings) -> set[tuple[str, str]]:
    query = "select table_schema, table_name from information_schema.tables"
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
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    db_path: Path,
    window: tuple[str, str],
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """Build (tests aside) what the selection reads but the warehouse lacks, so a strand selected on its own
    builds on a fresh warehouse; nothing when everything is selected or already built. Those nodes belong to
    other strands: they are built from whatever the lake holds, and not reported as materialized here."""
    manifest = json.loads(DBT_PROJECT.manifest_path.read_text())
    parents = buildable_parents(manifest)
    selected = selected_nodes(context, manifest)
    if selected >= set(parents):  # the whole project (the schedules' runs): nothing outside it to need
        return []
    needed = missing_prerequisites(parents, selected, built_nodes(db_path, manifest, settings))
    if not needed:
        return []
    names = sorted(manifest["nodes"][uid]["name"] for uid in needed)
    context.log.info(f"building {len(names)} models and seeds this selection reads but the warehouse lacks")
    args = ["build", "--select", " ".join(names)]
    args += ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    dbt.cli(
        args, manifest=DBT_PROJECT.manifest_path, dagster_dbt_translator=TRANSLATOR, window=window, env=env
    ).wait()
    return names


def run_window(context: AssetExecutionContext) -> tuple[str, str]:
    """The run's whole partition window as one inclusive day range: one build."""
    window = context.partition_time_window
    return window.start.date().isoformat(), (window.end - timedelta(days=1)).date().isoformat()


@dbt_assets(
    manifest=ensure_manifest(),
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    pool="duckdb_writer",  # one writer at a time for the working DuckDB file
    op_tags=pool_tag("duckdb_writer"),
)
def levwatch_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, venue_gateway: VenueGateway):
    home = Path(venue_gateway.home)
    # dbt's sources and profile read the home and the lake from the environment: the resource's, for this run's
    # dbt invocations only (the process's environment is left as it was)
    dbt_env = {"LEVWATCH_HOME": str(home)}
    if venue_gateway.lake_url:  # the sources read the same lake as the raw assets wrote
        dbt_env["LEVWATCH_LAKE_URL"] = venue_gateway.lake_url
    settings = load_settings({**os.environ, **dbt_env})
    lake = venue_gateway.lake
    for venue, dataset in lake_sources():
        lake.ensure_anchor(venue, dataset)
    (home / "build").mkdir(parents=True, exist_ok=True)
    window = run_window(context)
    db_path = Path(os.environ.get("LEVWATCH_DBT_DB_PATH") or build_path(home))
    build_prerequisites(context, dbt, db_path, window, settings, dbt_env)
    context.log.info(f"dbt build for {window[0]}..{window[1]}")
    # unit tests check the SQL on static inputs, the same in every run: dbt Labs recommends running them in
    # development and CI only (`make test` does, tests/integration/test_dbt_marts.py), not in production builds
    args = ["build", "--exclude-resource-type", "unit_test"]
    yield from dbt.cli(args, context=context, window=window, env=dbt_env).stream()
    if settings.warehouse == "ducklake":
        snapshot = publish_ducklake(settings)
        context.log.info(f"published DuckLake snapshot {snapshot}: readers see this build from now on")
        return
    published = publish(home)
    context.log.info(f"published the warehouse at {published}")


# The domain's definitions: the dbt models and the dbt CLI they run with
defs = Definitions(assets=[levwatch_dbt_models], resources={"dbt": dbt_resource()})
