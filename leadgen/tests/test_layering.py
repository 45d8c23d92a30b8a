"""The import chain of DESIGN.md, enforced: every module's imports (function-local ones included) are walked and an
arrow against the chain fails here, so a new app is held to it from its first commit.

    leadgen (infrastructure)  ←  accounts  ←  prospects  ←  outreach  ←  campaigns        analytics reads every app

- Infrastructure (`leadgen/`) imports no app, except the composition root: settings, `urls.py` and `api.py` (mounts
  every router). An app adds to shared infrastructure by registering from its AppConfig.ready (the /metrics spend).
- An app imports only the apps below it; nothing imports analytics.
- Inside prospects, entry points (import, inbound webhooks, discovery, API, views) hand prospects to the pipeline
  through `prospects.scoring.intake`: none imports the orchestrator (`prospects.scoring.pipeline`) above them.
- No service imports a `tasks` module: services queue tasks by name (`leadgen.tasks.task_send`); only tasks modules,
  and the app-level `tasks.py` that gathers them for Celery's autodiscovery, do.
Imports under `if TYPE_CHECKING:` are for type checkers only and are not arrows.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHAIN = ["accounts", "prospects", "outreach", "campaigns"]
APPS = [*CHAIN, "analytics"]
COMPOSITION_ROOT = {"leadgen.urls", "leadgen.api"}
ENTRY_POINTS = (
    "prospects.imports.",
    "prospects.inbound.",
    "prospects.discovery.",
    "prospects.api",
    "prospects.views",
    "prospects.icps.",
)
ORCHESTRATOR = "prospects.scoring.pipeline"


def _modules() -> Iterator[tuple[str, Path]]:
    for package in ["leadgen", *APPS]:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts or parts[:2] == ("leadgen", "settings"):
                continue
            yield ".".join(p for p in parts if p != "__init__"), path


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(tree: ast.AST, module: str) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = (
                    module.split(".")[: -node.level] if not module.endswith("__init__") else module.split(".")
                )
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def _violation(module: str, target: str) -> str | None:
    importer_app, imported_app = module.split(".")[0], target.split(".")[0]
    if imported_app not in APPS or imported_app == importer_app:
        if importer_app == imported_app == "prospects":
            return _inside_prospects(module, target)
        return None
    if importer_app == "leadgen":
        return None if module in COMPOSITION_ROOT else "infrastructure imports an app"
    if imported_app == "analytics":
        return "nothing imports analytics"
    if importer_app == "analytics":
        return None
    if CHAIN.index(imported_app) > CHAIN.index(importer_app):
        return f"{importer_app} imports {imported_app}, which sits above it"
    return None


def _inside_prospects(module: str, target: str) -> str | None:
    if module.startswith(ENTRY_POINTS) and target.startswith(ORCHESTRATOR):
        return "an entry point imports the pipeline orchestrator (use prospects.scoring.intake)"
    is_tasks = module.endswith(".tasks") or module == "prospects.tasks"
    if not is_tasks and (target.endswith(".tasks") or ".tasks." in target):
        return "a non-task module imports a tasks module (queue by name with leadgen.tasks.task_send)"
    return None


def test_no_module_imports_against_the_chain() -> None:
    violations = []
    for module, path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for lineno, target in _imports(tree, module):
            reason = _violation(module, target)
            if reason:
                violations.append(f"{path.relative_to(ROOT)}:{lineno} imports {target}: {reason}")
    assert sorted(set(violations)) == []


def test_the_walk_sees_function_local_imports_and_flags_a_planted_arrow() -> None:
    """The checker itself: a function-local upward import is an arrow; one under TYPE_CHECKING is not."""
    planted = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from campaigns.models import Campaign\n"
        "def f():\n    from outreach.services import message_create\n"
    )
    found = [(target, _violation("prospects.services", target)) for _, target in _imports(planted, "x")]
    flagged = {target for target, reason in found if reason}
    assert flagged == {"outreach.services", "outreach.services.message_create"}
    assert _violation("prospects.imports.engine", "prospects.scoring.pipeline") is not None
    assert _violation("prospects.imports.engine", "prospects.scoring.intake") is None
    assert _violation("leadgen.netguard", "accounts.models") is not None
    assert _violation("campaigns.services", "analytics.rollups") is not None
