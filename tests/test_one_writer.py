"""The consult log has one writer (docs/architecture.md): read from the source, so that a new
caller of `ConsultStore.record`, or an adapter or engine module making log entries of its
own, fails here before it can race the stepper."""

from __future__ import annotations

import ast
from pathlib import Path

import consultbot

PACKAGE = Path(consultbot.__file__).parent
STEPPER = PACKAGE / "engine" / "stepper.py"
# `consultbot demo --followup` fills a store of its own that no bot runs on, with logs made by
# the domain's own `step` (as tests/support/scripted.py does): not a second writer beside the
# stepper of a running bot.
DEMO_FILLER = PACKAGE / "devkit" / "followup.py"


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(), str(path))) for path in PACKAGE.rglob("*.py")]


def _calls_of(tree: ast.Module, name: str) -> list[int]:
    """Lines calling a method `name` (`x.name(...)`)."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == name
    ]


def test_only_the_stepper_calls_record() -> None:
    callers = {
        f"{path.relative_to(PACKAGE)}:{line}"
        for path, tree in _modules()
        for line in _calls_of(tree, "record")
        if path not in (STEPPER, DEMO_FILLER)
    }
    assert callers == set()
    assert _calls_of(ast.parse(STEPPER.read_text()), "record")  # the check looks at calls


def test_only_the_domain_makes_log_entries() -> None:
    """`Event.of(at, payload)` is how an entry is made: only the domain's steps do it."""
    domain = PACKAGE / "domain"
    makers = {
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path, tree in _modules()
        if domain not in path.parents
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "of"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "Event"
    }
    assert makers == set()
