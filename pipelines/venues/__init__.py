"""Venue clients: request, paginate, retry, parse to Arrow tables. They never know about dbt or Dagster."""
