"""The sandbox stays out of the production path: no module under pipelines/ outside pipelines/sandbox/ imports it,
and tests import the sandbox's models, not its routes (issue 14).

Both allow-lists are exact: a new import fails the test, and so does an allow-listed import that has gone, so each
list only shrinks. The production one is empty: the harness lives in pipelines/sandbox/harness/. Imports are read with `ast` (absolute, relative and
`importlib.import_module("...")` with a literal name), wherever they sit in a module, functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = "pipelines.sandbox"
ROUTES = "pipelines.sandbox.routes"

# (module file, imported name) pairs that may import the sandbox: none. Everything that starts or drives a sandbox
# (the demo, `sandbox serve|run`, the option and deployment replays) is the harness, pipelines/sandbox/harness/; its
# `levwatch` commands come in through the `levwatch.commands` entry point, not an import of pipelines/cli.py
PIPELINES_ALLOWED: set[tuple[str, str]] = set()

# (test file, imported name) pairs of tests that test a route's rendering; every other test imports models
TESTS_ALLOWED_ROUTES = {
    # the Farside page's HTML: its paths and render_page over the model's flows
    ("tests/integration/test_farside.py", "pipelines.sandbox.routes.farside.PAGES"),
    ("tests/integration/test_farside.py", "pipelines.sandbox.routes.farside.render_page"),
    # the route's PAGE_CAP, lowered to exercise the client's pagination
    ("tests/integration/test_hyperliquid_client.py", "pipelines.sandbox.routes.hyperliquid"),
    # Hyperliquid's price strings (_px)
    ("tests/unit/test_sandbox_minutes.py", "pipelines.sandbox.routes.hyperliquid._px"),
}


def _package(path: Path) -> str:
    """The package a relative import in `path` starts from."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1])  # a module's package; for __init__.py, the package itself


def imported_names(source: str, package: str) -> set[str]:
    """Every dotted name `source` (a module of `package`) imports: `import a.b` -> a.b; `from a.b import c` (or
    `from .b import c` in package a) -> a.b.c; `importlib.import_module("a.b")` -> a.b."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names |= {f"{module}.{alias.name}" for alias in node.names}
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _imports_of(files, package: str) -> set[tuple[str, str]]:
    return {
        (path.relative_to(ROOT).as_posix(), name)
        for path in files
        for name in imported_names(path.read_text(encoding="utf-8"), _package(path))
        if _under(name, package)
    }


def test_nothing_outside_the_sandbox_imports_it():
    sandbox = ROOT / "pipelines" / "sandbox"
    files = [p for p in sorted((ROOT / "pipelines").rglob("*.py")) if not p.is_relative_to(sandbox)]
    assert len(files) > 20
    found = _imports_of(files, SANDBOX)
    assert found - PIPELINES_ALLOWED == set(), "new imports of the sandbox outside pipelines/sandbox/"
    assert PIPELINES_ALLOWED - found == set(), "allow-listed imports that are gone: shrink the allow-list"


def test_the_harness_commands_come_in_through_the_entry_point_only():
    """pyproject.toml declares it, the installed metadata agrees (a stale environment fails here: `uv sync`), and
    the production CLI's parser gets the harness's commands from it."""
    import tomllib
    from importlib.metadata import entry_points

    from pipelines.cli import COMMANDS_ENTRY_POINTS

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared[COMMANDS_ENTRY_POINTS] == {"sandbox": "pipelines.sandbox.harness.commands:register"}
    installed = {e.name: e.value for e in entry_points(group=COMMANDS_ENTRY_POINTS)}
    assert installed == declared[COMMANDS_ENTRY_POINTS]


def test_tests_import_the_sandboxs_models_not_its_routes_except_rendering_tests():
    found = _imports_of(sorted((ROOT / "tests").rglob("*.py")), ROUTES)
    assert found - TESTS_ALLOWED_ROUTES == set(), "tests importing routes: import the model module instead"
    assert TESTS_ALLOWED_ROUTES - found == set(), "allow-listed route imports that are gone: shrink the list"


def test_the_import_reader_resolves_relative_and_dynamic_imports():
    source = (
        "import pipelines.sandbox.market\n"
        "from ..sandbox import server\n"
        "from . import assets\n"
        "def f():\n"
        "    from ..sandbox.routes.deribit import app\n"
        "    importlib.import_module('pipelines.sandbox.options')\n"
    )
    assert imported_names(source, "pipelines.defs") == {
        "pipelines.sandbox.market",
        "pipelines.sandbox.server",
        "pipelines.defs.assets",
        "pipelines.sandbox.routes.deribit.app",
        "pipelines.sandbox.options",
    }
    assert _package(ROOT / "pipelines" / "defs" / "__init__.py") == "pipelines.defs"
    assert _package(ROOT / "pipelines" / "cli.py") == "pipelines"
