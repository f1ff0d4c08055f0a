"""The code location's executor: a step starts once the outputs it reads exist, even if the step that produced
them then failed.

Dagster's default skips every step downstream of a failed one, so one venue's outage would stop dbt and nothing
would be published. A raw asset whose venue fails part-way yields its materialization (the days it wrote), then
fails (pipelines/defs/venues/assets.py): with `require_upstream_step_success: false` dbt still builds and publishes from
what the lake holds, and the run still ends failed, naming the venue and the day. A step that fails before
yielding its output still stops everything downstream of it.

Run config: `execution: {config: {max_concurrent: 4}}` (processes at a time), or `{in_process: true}` for one
process (tests). Step processes fork from a forkserver that has imported the code location once
(`start_method: forkserver`, the default here; `spawn` is Dagster's): a spawned step process imports Dagster, dbt
and pipelines.definitions again before its first request, ~5 s of CPU per step, and a run has one step per asset.
"""

from dagster import Enum, EnumValue, Field, Noneable, multi_or_in_process_executor

AFTER_UPSTREAM_OUTPUTS = {"require_upstream_step_success": False}

# A step's pool, also as an op tag, so that the executor keeps a run's own steps of one pool apart before they ask
# the instance for the pool's slot. Without it, a run's second step of a venue waited for the slot the first one
# held, and Dagster re-asks on a back-off of up to 15 s: the demo's ranged run lost ~40 s to those waits.
POOL_TAG = "levwatch/pool"
ONE_STEP_PER_POOL = [{"key": POOL_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]


def pool_tag(pool: str) -> dict[str, str]:
    """The op tags of a step in `pool` (pass as `op_tags=` beside `pool=`)."""
    return {POOL_TAG: pool}


def _executor_config(config: dict) -> dict:
    if config["in_process"]:
        return {"in_process": {"step_dependency_config": AFTER_UPSTREAM_OUTPUTS}}
    return {
        "multiprocess": {
            "max_concurrent": config["max_concurrent"],
            "tag_concurrency_limits": ONE_STEP_PER_POOL,
            "step_dependency_config": AFTER_UPSTREAM_OUTPUTS,
            "start_method": _start_method(config["start_method"]),
        }
    }


# Imported once by the forkserver, before it forks each step process. Dagster's own default is the module of the
# job's code pointer, but a job loaded with `-m pipelines.definitions` (the CLI, `dagster dev`) is not found that way
# and only Dagster itself was preloaded: each step process imported the whole code location again (~4.5 s of CPU,
# a profile of a three-step run; 3 to 4 s between a step's process starting and its first line).
FORKSERVER_PRELOAD = ["pipelines.definitions"]


def _start_method(name: str) -> dict:
    return {"forkserver": {"preload_modules": FORKSERVER_PRELOAD}} if name == "forkserver" else {name: {}}


LEVWATCH_EXECUTOR = multi_or_in_process_executor.configured(
    _executor_config,
    name="levwatch_executor",
    config_schema={
        "max_concurrent": Field(
            Noneable(int), default_value=None, description="processes at a time (default: one per CPU)"
        ),
        "in_process": Field(bool, default_value=False, description="run every step in the run's process"),
        "start_method": Field(
            Enum("StartMethod", [EnumValue("forkserver"), EnumValue("spawn")]),
            default_value="forkserver",
            description="how step processes start: forked from a server that imported the code location once, "
            "or each a fresh interpreter (spawn)",
        ),
    },
    description="Multiprocess (or in-process); dbt starts once its inputs are materialized, even if a raw step "
    "then failed.",
)


def executor_from_settings(settings=None):
    """LEVWATCH_EXECUTOR: this module's executor (multiprocess, the default) or Celery workers."""
    from pipelines.settings import load_settings

    settings = settings or load_settings()
    if settings.executor == "celery":
        from pipelines.orchestration.celery_executor import (
            celery_executor_for,  # dagster-celery only when asked for
        )

        return celery_executor_for(settings)
    return LEVWATCH_EXECUTOR
