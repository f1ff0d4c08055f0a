"""dbt-duckdb plugin (profiles.yml `plugins: [{module: pipelines.dbt_duckdb_plugin}]`): dbt's DuckDB connection
finds the extension wheels (pipelines/duckdb_extensions.py), so it builds offline whatever the lake and warehouse."""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from pipelines.duckdb_extensions import connection_config


class Plugin(BasePlugin):
    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        config.update(connection_config())
