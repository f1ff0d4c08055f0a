"""The Celery app a levwatch worker runs: `celery -A pipelines.celery_worker worker -Q <LEVWATCH_CELERY_QUEUE>`.

Built from the same settings as the run's executor (pipelines/orchestration/celery_executor.py), with
dagster-celery's task that executes one step of a run against the instance the run names.
"""

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from pipelines.orchestration.celery_executor import celery_app_args
from pipelines.settings import load_settings

app = make_app(celery_app_args(load_settings()))
execute_plan = create_task(app)
