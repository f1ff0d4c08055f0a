"""What the Dagster domains (pipelines/defs/) share: the venue gateway resource, the daily partitions, the
executors and the check adapter. Outside pipelines/defs/, so the definitions loader does not import it as a domain
(the Celery executor, in particular, is imported only when LEVWATCH_EXECUTOR=celery)."""
