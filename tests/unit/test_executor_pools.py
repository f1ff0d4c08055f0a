"""A run's own steps of one pool are kept apart by the executor (an op-tag limit), so they never wait on the
instance's pool slot and its back-off of up to 15 s; the pools still order overlapping runs."""

from __future__ import annotations

from pipelines.definitions import defs
from pipelines.orchestration.executor import LEVWATCH_EXECUTOR, ONE_STEP_PER_POOL, POOL_TAG, _executor_config


def test_every_asset_in_a_pool_carries_its_pool_as_the_tag_the_executor_limits():
    pooled = {}
    for assets_def in defs.resolve_asset_graph().assets_defs:
        if not assets_def.is_executable:  # external assets have no op
            continue
        op = assets_def.op
        if not op.pool:
            continue
        pooled[op.name] = op.pool
        assert op.tags.get(POOL_TAG) == op.pool, op.name
    # the venues' raw assets and dbt (CoinGlass is executable only with a key)
    assert {"venue_okx", "venue_binance", "duckdb_writer"} <= set(pooled.values())


def test_the_multiprocess_executor_runs_one_step_per_pool_value_at_a_time():
    config = _executor_config({"in_process": False, "max_concurrent": 4, "start_method": "forkserver"})
    assert config["multiprocess"]["tag_concurrency_limits"] == ONE_STEP_PER_POOL
    assert ONE_STEP_PER_POOL == [{"key": POOL_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    assert LEVWATCH_EXECUTOR.name == "levwatch_executor"
