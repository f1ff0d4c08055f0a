"""Dagster definitions, one module per job: ingest assets, dbt assets, checks, schedules, resources."""
