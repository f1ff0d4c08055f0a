"""The harness: everything that starts or drives a sandbox for the pipeline. The pipeline itself never starts one:
with LEVWATCH_SOURCE=sandbox it is pointed at a running sandbox (LEVWATCH_SANDBOX_URL), which the harness starts.

- start.py: the environment that points the pipeline at a running sandbox, and a command run beside a sandbox of its
  own (`levwatch sandbox run`, which `make dev` uses)
- demo.py: `levwatch demo`
- options_replay.py, deployment_replay.py: `levwatch record options|deployment`, which walk the sandbox clock
- commands.py: those `levwatch` commands, added to the production CLI through the `levwatch.commands` entry point
"""
