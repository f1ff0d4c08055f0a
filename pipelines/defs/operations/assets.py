"""raw/levwatch/ingest_outcomes and raw/levwatch/api_health: the pipeline's own logs, declared as external assets.

Every raw ingest step appends to them as it runs (pipelines/ingest.py): one new file per run and dataset, never
rewritten, so no file has two writers and no step materializes the log as a whole. Declaring them gives the dbt
sources that read them (models/staging/levwatch/) a defined asset upstream, instead of a key nothing defines.
"""

from dagster import AssetKey, AssetSpec, Definitions

RUN_LOGS = {
    "ingest_outcomes": (
        "One row per (venue, dataset, run, day asked for): what each raw ingest step got. Appended by every raw "
        "ingest step to the day's one file, under lake/<venue>/ingest_outcomes/date=<day>/."
    ),
    "api_health": (
        "One row per HTTP attempt a venue client made: endpoint, status, latency, error. Appended by every raw "
        "ingest step to the day's one file, under lake/<venue>/api_health/date=<day>/."
    ),
}

RUN_LOG_SPECS = [
    AssetSpec(
        AssetKey(["raw", "levwatch", name]),
        group_name="raw_levwatch",
        kinds={"parquet"},
        description=description,
        metadata={
            "written_by": "every raw ingest step (pipelines/ingest.py), appending to the day's one file"
        },
    )
    for name, description in RUN_LOGS.items()
]

# A Definitions rather than the specs at module level: the defs loader lists a module-level spec twice in
# Definitions.assets (as an asset and as a source asset), which would count each log as defined twice
defs = Definitions(assets=RUN_LOG_SPECS)
