"""dbt-duckdb plugin (profiles.yml `plugins: [{module: pipelines.dbt_duckdb_plugin}]`): dbt's DuckDB connection
finds the extension wheels (pipelines/duckdb_extensions.py), so it builds offline, and reads an S3 lake with the AWS environment's credentials."""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from pipelines.duckdb_extensions import configure_lake, connection_config
from pipelines.settings import load_settings


class Plugin(BasePlugin):
    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        config.update(connection_config())

    def configure_connection(self, conn: Any) -> None:
        # the sources read LEVWATCH_LAKE_URL: an S3 lake needs httpfs and the secret on dbt's connection
        configure_lake(conn, load_settings().lake_url)
