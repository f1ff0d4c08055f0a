"""The places that name a dataset agree (issue 14, "One dataset registry"): the safety net of README "Adding a venue"
and "Adding a dataset".

A dataset is named today in the lake (pipelines/lake.py DATASETS: schema, time column and key, once), by its one writer (a
venue module's DATASETS in pipelines/venues/registry.py, or one of the non-registry writers listed below), in the
sandbox (pipelines/sandbox/server.py VENUE_APPS, for the venue), in the dbt sources
(dbt_project/models/staging/<venue>/_<venue>__sources.yml, `meta.lake_dataset` where the table name differs) with a
staging model, and in the venue lists of dbt_project/dbt_project.yml vars. Each test names what to add where.

Fast and offline: it imports the modules and reads the YAML files; no network, no dbt parse or run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

from pipelines import lake
from pipelines.etf_import import CSV_DATASET
from pipelines.recorder.landing import EVENTS, GAPS
from pipelines.recorder.streams import STREAM_VENUES as RECORDER_VENUES
from pipelines.sandbox.server import VENUE_APPS
from pipelines.settings import DEFAULT_BASE_URLS, DEFAULT_WS_URLS
from pipelines.venues import coinglass
from pipelines.venues.registry import VENUE_MODULES

ROOT = Path(__file__).resolve().parents[2]
DBT = ROOT / "dbt_project"
STAGING = DBT / "models" / "staging"

# The pipeline's own run logs: appended under lake/<venue>/ by every raw ingest step, read by the `levwatch` source
# through lake/*/; not a venue, so nothing to serve and no base URL
RUN_LOG_SOURCE = "levwatch"

# Writers outside VENUE_MODULES, each with where it lives. The recorder's pair is added per RECORDER_VENUES.
NON_REGISTRY_WRITERS: dict[tuple[str, str], str] = {
    **{
        (coinglass.VENUE, name): "pipelines/defs/coinglass/assets.py (keyed, optional: not in VENUE_MODULES)"
        for name in coinglass.DATASETS
    },
    (
        "farside",
        CSV_DATASET,
    ): "pipelines/etf_import.py (the CSV drop folder, via pipelines/defs/etf/assets.py)",
    (RUN_LOG_SOURCE, "api_health"): "pipelines/ingest.py (every raw ingest step appends its HTTP attempts)",
    (RUN_LOG_SOURCE, "ingest_outcomes"): "pipelines/ingest.py (every raw ingest step appends its outcomes)",
}

# Datasets the lake declares that no dbt source reads, each with why (none today)
LAKE_ONLY: dict[str, str] = {}

# Datasets declared without a key, each with why; lake._check_in_day and raw_checks skip the duplicate check for them
UNKEYED: dict[str, str] = {
    "api_health": "a log of HTTP attempts, one file per day that each run appends to: no key declared (see the issue 14 report)",
}

# dbt_project.yml var -> (the lake dataset each named venue needs a dbt source for, whether the list must name
# every venue that has one). `exact`: an int_*_unioned model (or int_venue_status_hourly) reads exactly these
# venues, so a venue with the source but missing from the var is silently left out of the marts.
VENUE_VARS: dict[str, tuple[tuple[str, ...], bool]] = {
    "funding_rate_venues": (("funding_rates",), True),
    "kline_1m_venues": (("klines_1m",), True),
    "kline_hourly_venues": (("klines",), True),
    "long_short_ratio_venues": (("long_short_ratios",), True),
    "open_interest_history_venues": (("open_interest",), True),
    "open_interest_venues": ((), False),  # the history venues and those with asset-context snapshots (below)
    "insurance_fund_venues": (("insurance_funds",), True),
    "liquidation_venues": (("liquidations",), True),
    "liquidation_stream_venues": (("liquidations", "liquidation_gaps"), True),
    "coinglass_all_exchanges": (("liquidations",), False),
    "operational_risk_venues": ((), False),  # any source: it reads api_health, which every venue writes
    "status_endpoints": (("system_status",), True),
    "status_reach_hours": (("system_status",), True),
}


def source_tables() -> dict[tuple[str, str], str]:
    """(source, table) -> the lake dataset it reads, from every dbt sources YAML."""
    tables = {}
    for path in sorted(STAGING.glob("*/_*__sources.yml")):
        for source in yaml.safe_load(path.read_text())["sources"]:
            for table in source["tables"]:
                tables[(source["name"], table["name"])] = table.get("meta", {}).get(
                    "lake_dataset", table["name"]
                )
    return tables


def source_datasets() -> set[tuple[str, str]]:
    """(venue, lake dataset) pairs the dbt sources read."""
    return {(venue, dataset) for (venue, _), dataset in source_tables().items()}


def writers() -> list[tuple[str, str, str]]:
    """(venue, dataset, writer) for every writer of a lake dataset; a pair listed twice has two writers."""
    found = [
        (venue, key, f"pipelines/venues/{module.__name__.rsplit('.', 1)[-1]}.py DATASETS")
        for venue, module in VENUE_MODULES.items()
        for key in module.DATASETS
    ]
    found += [
        (
            venue,
            dataset,
            "pipelines/recorder (liquidation stream) + pipelines/defs/liquidations/assets.py compaction",
        )
        for venue in RECORDER_VENUES
        for dataset in (EVENTS, GAPS)
    ]
    found += [(venue, dataset, where) for (venue, dataset), where in NON_REGISTRY_WRITERS.items()]
    return found


def dbt_vars() -> dict:
    return yaml.safe_load((DBT / "dbt_project.yml").read_text())["vars"]


def test_each_lake_dataset_declares_columns_of_its_own_schema():
    assert {name for name, d in lake.DATASETS.items() if d.key is None} == set(UNKEYED), (
        "a dataset without a key must be listed in UNKEYED with why (or given a key in pipelines/lake.py DATASETS)"
    )
    for name, d in lake.DATASETS.items():
        assert d.name == name, f"lake.DATASETS[{name!r}] is declared as {d.name!r}"
        columns = set(d.schema.names)
        assert d.time_column in columns, f"lake.DATASETS[{name!r}].time_column is not a column of its schema"
        missing = set(d.key or ()) - columns
        assert not missing, f"lake.DATASETS[{name!r}].key names {sorted(missing)}, not columns of its schema"


def test_every_dbt_source_table_is_a_dataset_the_lake_knows():
    tables = source_tables()
    assert len(tables) > 30 and ("okx", "liquidation_partitions") in tables
    for (venue, table), dataset in sorted(tables.items()):
        where = f"source {venue}.{table} (lake dataset {dataset!r})"
        assert dataset in lake.DATASETS, f"{where}: declare it in DATASETS in pipelines/lake.py"


def test_every_dataset_a_source_reads_has_exactly_one_writer():
    found = writers()
    count = Counter((venue, dataset) for venue, dataset, _ in found)
    for venue, dataset in sorted(source_datasets()):
        assert count[(venue, dataset)] > 0, (
            f"lake/{venue}/{dataset} is read by a dbt source but nothing writes it: add a DatasetSpec to DATASETS "
            f"in pipelines/venues/{venue}.py (and the module to pipelines/venues/registry.py), or, for a writer "
            "that is not a REST venue module, list it in NON_REGISTRY_WRITERS of this test"
        )
        assert count[(venue, dataset)] == 1, (
            f"lake/{venue}/{dataset} has {count[(venue, dataset)]} writers: "
            f"{[w for v, d, w in found if (v, d) == (venue, dataset)]}. Keep one: a second producer of the same "
            "rows gets its own dataset, unioned in the staging model (README 'Adding a dataset')"
        )


def test_every_writer_writes_its_spec_name_and_a_dataset_a_source_reads():
    for venue, module in VENUE_MODULES.items():
        assert venue == module.VENUE, f"pipelines/venues/registry.py: {venue!r} maps to {module.__name__}"
        for key, spec in module.DATASETS.items():
            assert spec.name == key, (
                f"{module.__name__}.DATASETS[{key!r}] is a DatasetSpec named {spec.name!r}"
            )
    read = source_datasets()
    for venue, dataset, where in writers():
        assert (venue, dataset) in read or dataset in LAKE_ONLY, (
            f"{where} writes lake/{venue}/{dataset}, which no dbt source reads: add table {dataset!r} to "
            f"dbt_project/models/staging/{venue}/_{venue}__sources.yml (and stg_{venue}__{dataset}.sql/.yml), "
            "or list the dataset in LAKE_ONLY of this test with why"
        )


def test_every_dataset_the_lake_declares_is_read_by_a_source_or_lake_only():
    read = {dataset for _, dataset in source_datasets()}
    unread = set(lake.SCHEMAS) - read - set(LAKE_ONLY)
    assert unread == set(), (
        "pipelines/lake.py declares datasets no dbt source reads: add a table to a "
        "dbt_project/models/staging/<venue>/_<venue>__sources.yml, or list them in LAKE_ONLY of this test with why"
    )
    assert set(LAKE_ONLY) - set(lake.SCHEMAS) == set(), "LAKE_ONLY names datasets the lake no longer declares"
    assert set(LAKE_ONLY) & read == set(), "LAKE_ONLY names datasets a source reads now: remove them"


def test_every_source_sits_in_its_venues_folder_and_reads_its_own_lake_folder():
    for path in sorted(STAGING.glob("*/_*__sources.yml")):
        for source in yaml.safe_load(path.read_text())["sources"]:
            venue = source["name"]
            assert path.parent.name == venue, f"{path}: source {venue!r} belongs in models/staging/{venue}/"
            folder = "lake/*/" if venue == RUN_LOG_SOURCE else f"lake/{venue}/"
            assert folder in source["meta"]["external_location"], (
                f"{path}: external_location must read {folder}"
            )


def test_every_source_table_is_read_by_a_documented_staging_model_of_its_venue():
    """From the manifest `make setup` parses (dbt parse): macros such as stage_system_status hide source() calls
    from a text search."""
    path = DBT / "target" / "manifest.json"
    assert path.exists(), "no dbt_project/target/manifest.json: run `make setup` (dbt parse) first"
    manifest = json.loads(path.read_text())
    parsed = {(s["source_name"], s["name"]) for s in manifest["sources"].values()}
    assert parsed == set(source_tables()), (
        "dbt_project/target/manifest.json is stale: run `make setup` (dbt parse)"
    )
    read_by: dict[str, list[dict]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/staging/"):
            for uid in node["depends_on"]["nodes"]:
                read_by.setdefault(uid, []).append(node)
    for venue, table in sorted(source_tables()):
        models = read_by.get(f"source.levwatch.{venue}.{table}", [])
        assert models, (
            f"no staging model reads source {venue}.{table}: add dbt_project/models/staging/{venue}/"
            f"stg_{venue}__{table}.sql (+ .yml), or read it in the venue's existing staging model"
        )
        for model in models:
            file = model["original_file_path"]
            assert file.startswith(f"models/staging/{venue}/"), (
                f"{file} reads source {venue}.{table}: move it"
            )
            assert model["patch_path"], f"{file} has no YAML: add {Path(file).with_suffix('.yml')}"


def test_the_sandbox_serves_every_venue_a_source_reads_and_every_host_the_pipeline_calls():
    for venue in sorted({venue for venue, _ in source_datasets()} - {RUN_LOG_SOURCE}):
        assert venue in VENUE_APPS, (
            f"the dbt sources read lake/{venue}/ but the sandbox does not serve {venue!r}: add a route module "
            f"pipelines/sandbox/routes/{venue}.py and its line in VENUE_APPS of pipelines/sandbox/server.py"
        )
    assert set(DEFAULT_BASE_URLS) == set(VENUE_APPS), (
        "pipelines/settings.py DEFAULT_BASE_URLS and pipelines/sandbox/server.py VENUE_APPS must name the same "
        "hosts: every base URL the pipeline calls is served by the sandbox under /<venue>"
    )
    rest = (set(VENUE_MODULES) | {venue for (venue, _) in NON_REGISTRY_WRITERS}) - {RUN_LOG_SOURCE}
    assert rest - set(DEFAULT_BASE_URLS) == set(), (
        "add these venues' base URLs to DEFAULT_BASE_URLS in settings.py"
    )
    assert set(RECORDER_VENUES) == set(DEFAULT_WS_URLS), (
        "pipelines/recorder/streams.py STREAM_VENUES and pipelines/settings.py DEFAULT_WS_URLS must name the same "
        "stream venues (and pipelines/sandbox/streams.py replays them)"
    )


def test_the_dbt_venue_vars_name_venues_with_the_source_they_need():
    variables = dbt_vars()
    listed = {name for name in variables if name.endswith("_venues")} | {"coinglass_all_exchanges"}
    assert listed - set(VENUE_VARS) == set(), (
        "a new venue list in dbt_project.yml vars: add it to VENUE_VARS of this test with the dataset it needs"
    )
    read = source_datasets()
    source_venues = {venue for venue, _ in read}
    for name, (datasets, exact) in VENUE_VARS.items():
        venues = set(variables[name])  # a list, or a mapping keyed by venue
        assert venues, f"dbt_project.yml vars.{name} is gone or empty: update VENUE_VARS of this test"
        for venue in sorted(venues):
            assert venue in source_venues and venue != RUN_LOG_SOURCE, (
                f"dbt_project.yml vars.{name} names {venue!r}, which has no dbt source: add "
                f"dbt_project/models/staging/{venue}/_{venue}__sources.yml or drop it from the var"
            )
            for dataset in datasets:
                assert (venue, dataset) in read, (
                    f"dbt_project.yml vars.{name} names {venue!r}, but no dbt source reads lake/{venue}/{dataset}: "
                    f"add table {dataset!r} to dbt_project/models/staging/{venue}/_{venue}__sources.yml with "
                    f"stg_{venue}__{dataset}.sql, or drop {venue!r} from the var"
                )
        if exact:
            having = {venue for venue in source_venues if all((venue, d) in read for d in datasets)}
            assert having - venues == set(), (
                f"these venues have a dbt source for {datasets} but dbt_project.yml vars.{name} leaves them out of "
                "the union: add them to the var"
            )
    snapshot_oi = {venue for venue, dataset in read if dataset == "asset_contexts"}
    assert (
        set(variables["open_interest_venues"]) == set(variables["open_interest_history_venues"]) | snapshot_oi
    ), (
        "dbt_project.yml vars.open_interest_venues must be open_interest_history_venues plus the venues whose OI "
        "comes from asset-context snapshots (int_open_interest_hourly)"
    )
    assert set(variables["liquidation_stream_venues"]) == set(RECORDER_VENUES), (
        "dbt_project.yml vars.liquidation_stream_venues must name the recorder's venues "
        "(pipelines/recorder/recorder.py STREAM_NAMES)"
    )
    assert set(variables["coinglass_all_exchanges"]) == {e.lower() for e in coinglass.EXCHANGES}, (
        "dbt_project.yml vars.coinglass_all_exchanges must be pipelines/venues/coinglass.py EXCHANGES, lower-cased"
    )
    assert set(variables["operational_risk_venues"]) <= set(VENUE_MODULES), (
        "dbt_project.yml vars.operational_risk_venues names a venue pipelines/venues/registry.py does not ingest"
    )


def _accepted_value_lists(node, found: list) -> None:
    if isinstance(node, dict):
        test = node.get("accepted_values")
        if isinstance(test, dict):
            found.append((test.get("arguments") or test).get("values"))
        for value in node.values():
            _accepted_value_lists(value, found)
    elif isinstance(node, list):
        for value in node:
            _accepted_value_lists(value, found)


def test_venue_lists_in_model_yaml_come_from_the_dbt_vars():
    """A model that holds several venues tests its venue column against the var its union reads
    (`values: "{{ var('...') }}"`), so adding a venue to a var is the whole change; only a per-venue staging model
    (one venue by construction) names its venue."""
    venues = set(VENUE_MODULES) | set(DEFAULT_BASE_URLS)
    literal = []
    for path in sorted((DBT / "models").rglob("*.yml")):
        if "staging" in path.relative_to(DBT / "models").parts:
            continue
        found: list = []
        _accepted_value_lists(yaml.safe_load(path.read_text()), found)
        for values in found:
            if isinstance(values, list) and len(venues & set(values)) > 1:
                literal.append(f"{path.relative_to(DBT)}: {values}")
    assert literal == [], "name these venues with a dbt_project.yml var instead of a list"
