"""LEVWATCH_EXECUTOR=celery: a run's steps go to Celery workers (dagster-celery), which may sit on other machines.

The broker, results backend and queue come from the settings on both sides: the run (this executor) and the
workers (`celery -A pipelines.celery_worker worker`, pipelines/celery_worker.py) load the same code location with
the same LEVWATCH_* environment, so they cannot disagree. Nothing of the broker URL lands in a run's config (which
Dagster stores).

As with the multiprocess executor (pipelines/orchestration/executor.py), a step starts once the outputs it reads exist even
if the step that produced them then failed: dagster-celery's loop has no option for it, so the plan it starts is
handed the same step dependency config.

Workers need what a step process needs on one machine: the instance (LEVWATCH_DAGSTER_POSTGRES_URL, so it is
shared), LEVWATCH_HOME (the lake and the dbt build: a shared volume until the lake moves to an object store) and
the venues' URLs.
"""

from __future__ import annotations

from dagster import executor, multiple_process_executor_requirements
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster_celery.defaults import broker_transport_options
from dagster_celery.executor import CeleryExecutor

from pipelines.orchestration.executor import AFTER_UPSTREAM_OUTPUTS
from pipelines.settings import Settings

# kombu's virtual transports (SQLAlchemy, Redis) poll the broker; one second (its default) adds a second per step
POLLING_INTERVAL_S = 0.2


class _PlanStartingAfterUpstreamOutputs(ExecutionPlan):
    """The run's plan, started with require_upstream_step_success: false (see the module docstring)."""

    def start(self, *args, **kwargs):
        kwargs["step_dependency_config"] = StepDependencyConfig(**AFTER_UPSTREAM_OUTPUTS)
        return super().start(*args, **kwargs)


class LevwatchCeleryExecutor(CeleryExecutor):
    def execute(self, plan_context, execution_plan):
        try:
            yield from super().execute(
                plan_context, tuple.__new__(_PlanStartingAfterUpstreamOutputs, execution_plan)
            )
        finally:
            # A step whose worker died (OOM kill, lost node) never writes the end event that frees its pool slot
            # (venue_<venue>, duckdb_writer): every later run would wait for the slot. The run's execution is over
            # here, so none of its slots is still in use.
            storage = plan_context.instance.event_log_storage
            if storage.supports_global_concurrency_limits:
                storage.free_concurrency_slots_for_run(plan_context.run_id)


def celery_app_args(settings: Settings) -> dict:
    """The Celery app's arguments, the same for the run and the workers."""
    transport_options = dict(broker_transport_options)
    if not (settings.celery_broker_url or "").startswith("sqla+"):  # kombu's SQLAlchemy transport hands every
        transport_options["polling_interval"] = (
            POLLING_INTERVAL_S  # option to create_engine, which refuses it
        )
    return {
        "broker": settings.celery_broker_url,
        "backend": settings.celery_backend_url,
        "include": [],
        "config_source": {
            "broker_transport_options": transport_options,
            "task_default_queue": settings.celery_queue,
            # a worker that dies mid-step must not leave the run waiting for a result that never comes: its
            # parent reports the step failed (WorkerLostError) and the run ends failed, naming the step
            "task_reject_on_worker_lost": False,
        },
    }


def celery_executor_for(settings: Settings):
    args = celery_app_args(settings)

    @executor(
        name="levwatch_celery",
        config_schema={"retries": get_retries_config()},
        requirements=multiple_process_executor_requirements(),
    )
    def levwatch_celery(init_context):
        """Steps on Celery workers; dbt starts once its inputs are materialized, even if a raw step then failed."""
        return LevwatchCeleryExecutor(
            retries=RetryMode.from_config(init_context.executor_config["retries"]), **args
        )

    return levwatch_celery
