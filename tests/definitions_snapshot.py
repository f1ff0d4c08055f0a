"""The code location as a sorted, deterministic description: asset keys with their group, kinds, partitions,
deps and freshness policy, check keys, jobs, schedules, resource keys and the executor.

tests/unit/test_definitions_snapshot.py compares it with tests/fixtures/definitions_snapshot.json. After an
intended change to the definitions, regenerate the file and review its diff:

    .venv/bin/python -m tests.definitions_snapshot --write
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "fixtures" / "definitions_snapshot.json"

# What the definitions read from the environment at load time, one load per variant
VARIANTS = {
    "default": {},
    # the CoinGlass asset is executable only with a key; the Celery executor replaces the multiprocess one
    "coinglass_key_and_celery": {
        "COINGLASS_API_KEY": "snapshot-not-a-key",
        "LEVWATCH_EXECUTOR": "celery",
        "LEVWATCH_CELERY_BROKER_URL": "memory://",
    },
}


def _str(value) -> str | None:
    return None if value is None else str(value)


def describe(defs) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {
        node.key.to_user_string(): {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "partitions_def": _str(node.partitions_def),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "freshness_policy": _str(node.freshness_policy),
            "executable": node.is_executable,
            "materializable": node.is_materializable,
            "backfill_policy": _str(node.backfill_policy),
            "pools": sorted(node.pools or []),
        }
        for node in graph.asset_nodes
    }
    repo = defs.get_repository_def()
    return {
        "assets": dict(sorted(assets.items())),
        "asset_checks": sorted(k.to_user_string() for k in graph.asset_check_keys),
        "jobs": {
            job.name: {"partitions_def": _str(job.partitions_def), "executor": job.executor_def.name}
            for job in sorted(repo.get_all_jobs(), key=lambda j: j.name)
        },
        "schedules": {
            s.name: {"cron": s.cron_schedule, "job": s.job_name, "timezone": s.execution_timezone}
            for s in sorted(repo.schedule_defs, key=lambda s: s.name)
        },
        # the entries of Definitions.assets, each as the keys it defines: the same asset listed twice shows here
        "asset_entries": sorted(
            " ".join(sorted(k.to_user_string() for k in getattr(entry, "keys", None) or [entry.key]))
            for entry in defs.assets
        ),
        "resources": sorted(defs.resources or {}),
        "executor": defs.executor.name if defs.executor is not None else None,
    }


def variant_env(variant: str, home: str) -> dict[str, str]:
    """This environment without anything the definitions read, plus the variant's values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVWATCH_") and k != "COINGLASS_API_KEY"}
    return {**env, "LEVWATCH_HOME": home, **VARIANTS[variant]}


def load_variant(variant: str) -> dict:
    """The description of pipelines.definitions loaded in a fresh interpreter with the variant's environment."""
    with tempfile.TemporaryDirectory() as home:
        out = subprocess.run(
            [sys.executable, "-m", "tests.definitions_snapshot", "--describe"],
            cwd=ROOT,
            env=variant_env(variant, home),
            capture_output=True,
            text=True,
            check=False,
        )
    if out.returncode:
        raise RuntimeError(f"loading the definitions ({variant}) failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help=f"regenerate {SNAPSHOT.relative_to(ROOT)}")
    parser.add_argument("--describe", action="store_true", help="describe this process's definitions (JSON)")
    args = parser.parse_args()
    if args.describe:
        warnings.simplefilter("ignore")
        from pipelines.definitions import defs

        json.dump(describe(defs), sys.stdout, sort_keys=True)
        return
    snapshot = {variant: load_variant(variant) for variant in VARIANTS}
    text = json.dumps(snapshot, indent=1, sort_keys=True) + "\n"
    if args.write:
        SNAPSHOT.write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
