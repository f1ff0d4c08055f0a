"""Scale-out settings, the instance config prepare_home writes for them, and the deployment files (Kubernetes
manifests checked against the Kubernetes API schemas bundled in kubernetes-validate, offline)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from dagster import DagsterInstance

from pipelines.cli import dagster_yaml, prepare_home
from pipelines.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S_VERSION = "1.30"  # the oldest Kubernetes the manifests are written for


def test_the_embedded_defaults_are_unchanged():
    s = load_settings({"LEVWATCH_HOME": "/tmp/x"})
    assert (s.dagster_postgres_url, s.executor, s.celery_broker_url) == (None, "multiprocess", None)
    assert (s.lake_url, s.lake_location, s.warehouse) == (None, "file:///tmp/x/lake", "file")


def test_the_lake_and_warehouse_settings():
    s = load_settings(
        {
            "LEVWATCH_LAKE_URL": "s3://bucket/levwatch/lake/",
            "LEVWATCH_WAREHOUSE": "DuckLake",
            "LEVWATCH_DUCKLAKE_CATALOG": "postgresql://u:p@db:5432/ducklake",
        }
    )
    assert (s.lake_location, s.warehouse) == ("s3://bucket/levwatch/lake", "ducklake")
    assert s.ducklake_catalog == "postgresql://u:p@db:5432/ducklake"


def test_postgres_urls_name_psycopg2_for_sqlalchemy():
    s = load_settings(
        {
            "LEVWATCH_DAGSTER_POSTGRES_URL": "postgres://u:p@db:5432/dagster",
            "LEVWATCH_EXECUTOR": "Celery",
            "LEVWATCH_CELERY_BROKER_URL": "sqla+postgresql://u:p@db/broker",
            "LEVWATCH_CELERY_BACKEND_URL": "db+postgresql://u:p@db/broker",
        }
    )
    assert s.dagster_postgres_url == "postgresql+psycopg2://u:p@db:5432/dagster"
    assert s.celery_broker_url == "sqla+postgresql+psycopg2://u:p@db/broker"
    assert s.celery_backend_url == "db+postgresql+psycopg2://u:p@db/broker"
    assert s.executor == "celery" and s.celery_queue == "dagster"
    rabbit = load_settings({"LEVWATCH_EXECUTOR": "celery", "LEVWATCH_CELERY_BROKER_URL": "amqp://g:g@mq//"})
    assert (rabbit.celery_broker_url, rabbit.celery_backend_url) == ("amqp://g:g@mq//", "rpc://")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LEVWATCH_DAGSTER_POSTGRES_URL": "mysql://u:secret@db/x"}, "must be a postgresql://"),
        ({"LEVWATCH_EXECUTOR": "k8s"}, "LEVWATCH_EXECUTOR must be one of"),
        ({"LEVWATCH_EXECUTOR": "celery"}, "needs LEVWATCH_CELERY_BROKER_URL"),
        ({"LEVWATCH_CELERY_QUEUE": "a queue;"}, "LEVWATCH_CELERY_QUEUE must be"),
        ({"LEVWATCH_LAKE_URL": "lake/relative"}, "LEVWATCH_LAKE_URL must be file:///"),
        ({"LEVWATCH_LAKE_URL": "s3:///prefix"}, "must name a bucket"),
        ({"LEVWATCH_WAREHOUSE": "snowflake"}, "LEVWATCH_WAREHOUSE must be one of"),
        ({"LEVWATCH_WAREHOUSE": "ducklake"}, "needs LEVWATCH_DUCKLAKE_CATALOG"),
        (
            {"LEVWATCH_WAREHOUSE": "ducklake", "LEVWATCH_DUCKLAKE_CATALOG": "mysql://u:secret@db/x"},
            "needs LEVWATCH_DUCKLAKE_CATALOG",
        ),
    ],
)
def test_bad_scale_out_settings_are_refused_clearly(env, message):
    with pytest.raises(SettingsError, match=message) as raised:
        load_settings(env)
    assert "secret" not in str(raised.value)  # a password never ends up in an error message


def test_prepare_home_switches_the_instance_to_postgres_and_back(tmp_path):
    url = "postgresql://dagster:pw@db.example:5432/dagster"
    dagster_home = prepare_home(tmp_path, load_settings({"LEVWATCH_DAGSTER_POSTGRES_URL": url}))
    config = dagster_home / "dagster.yaml"
    parsed = yaml.safe_load(config.read_text())
    assert parsed["storage"] == {
        "postgres": {"postgres_url": "postgresql+psycopg2://dagster:pw@db.example:5432/dagster"}
    }
    assert parsed["concurrency"] == {"pools": {"default_limit": 1}}  # the pools keep their limits
    assert config.stat().st_mode & 0o777 == 0o600
    prepare_home(tmp_path, load_settings({}))  # the setting removed: back to the embedded SQLite instance
    assert config.read_text() == dagster_yaml(load_settings({}), dagster_home)
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert type(instance.event_log_storage).__name__ == "PooledSqliteEventLogStorage"


def _documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_kubernetes_manifests_are_valid_against_the_api_schemas():
    manifests = sorted((DEPLOY / "k8s").glob("*.yaml"))
    kinds = set()
    for path in manifests:
        for resource in _documents(path):
            kubernetes_validate.validate(resource, K8S_VERSION, strict=True)  # raises on any unknown field
            kinds.add(resource["kind"])
    assert {"ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment"} <= kinds


def test_a_manifest_with_a_mistake_is_caught():
    worker = next(d for d in _documents(DEPLOY / "k8s" / "celery-worker.yaml") if d["kind"] == "Deployment")
    worker["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["nmae"] = "typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(worker, K8S_VERSION, strict=True)


def test_every_setting_the_deployment_names_is_one_levwatch_reads():
    read = set(re.findall(r'"(LEVWATCH_[A-Z0-9_]+)"', (REPO / "pipelines" / "settings.py").read_text()))
    read |= {f"LEVWATCH_{v.upper()}_URL" for v in load_settings({}).base_urls}
    settings = next(d for d in _documents(DEPLOY / "k8s" / "settings.yaml") if d["kind"] == "ConfigMap")
    secret = next(d for d in _documents(DEPLOY / "k8s" / "settings.yaml") if d["kind"] == "Secret")
    named = {k for k in [*settings["data"], *secret["stringData"]] if k.startswith("LEVWATCH_")}
    assert named and named <= read
    assert load_settings({**settings["data"], **secret["stringData"]}).executor == "celery"  # they load


def test_helm_values_point_the_chart_at_the_image_settings_and_k8s_run_launcher():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    (location,) = values["dagster-user-deployments"]["deployments"]
    manifests = {d["metadata"]["name"]: d for p in (DEPLOY / "k8s").glob("*.yaml") for d in _documents(p)}
    for holder in (launcher, location):  # run pods and the code location see the same settings and home
        assert [c["name"] for c in holder["envConfigMaps"]] == ["levwatch-settings"]
        assert [s["name"] for s in holder["envSecrets"]] == ["levwatch-secrets"]
        claim = holder["volumes"][0]["persistentVolumeClaim"]["claimName"]
        assert manifests[claim]["kind"] == "PersistentVolumeClaim"
        assert (
            holder["volumeMounts"][0]["mountPath"] == manifests["levwatch-settings"]["data"]["LEVWATCH_HOME"]
        )
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert location["dagsterApiGrpcArgs"] == ["--module-name", pyproject["tool"]["dagster"]["module_name"]]


def test_the_dockerfile_copies_what_exists_and_serves_the_code_location():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", dockerfile, flags=re.M):
        *sources, _ = line.split()
        for source in sources:
            assert (REPO / source).exists(), source
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert f'"--module-name", "{pyproject["tool"]["dagster"]["module_name"]}"' in dockerfile
    worker = next(d for d in _documents(DEPLOY / "k8s" / "celery-worker.yaml") if d["kind"] == "Deployment")
    command = worker["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == ["celery", "-A", "pipelines.celery_worker"]
    assert (REPO / "pipelines" / "celery_worker.py").exists()


def test_the_celery_executor_keeps_starting_a_step_after_its_upstream_outputs():
    """dagster-celery's loop has no step dependency option: the plan it starts must carry ours (executor.py)."""
    from dagster import AssetsDefinition, Definitions, asset, define_asset_job
    from dagster._core.execution.api import create_execution_plan
    from dagster._core.execution.retries import RetryMode

    from pipelines.orchestration.celery_executor import _PlanStartingAfterUpstreamOutputs

    @asset
    def upstream():
        return 1

    @asset
    def downstream(upstream):
        return upstream

    assets: list[AssetsDefinition] = [upstream, downstream]
    job = Definitions(assets=assets, jobs=[define_asset_job("pair")]).resolve_job_def("pair")
    plan = create_execution_plan(job)
    wrapped = tuple.__new__(_PlanStartingAfterUpstreamOutputs, plan)
    assert list(wrapped.step_keys_to_execute) == list(plan.step_keys_to_execute)
    ours = wrapped.start(retry_mode=RetryMode.DISABLED)  # not entered: nothing executes
    assert ours._step_dependency_config.require_upstream_step_success is False
    default = plan.start(retry_mode=RetryMode.DISABLED)  # Dagster's default, which the wrapper changes
    assert default._step_dependency_config.require_upstream_step_success is True
