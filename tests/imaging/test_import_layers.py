"""Imports inside ``course_utils.imaging`` flow one way: chapter-level code imports shared pieces, never back (issue 29)."""

from __future__ import annotations

import ast
from pathlib import Path

import course_utils.imaging as imaging

PACKAGE = Path(imaging.__file__).parent


def _imports(path: Path) -> set[str]:
    """Return the sibling modules of ``course_utils.imaging`` that ``path`` imports, lazily or not."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils.imaging."):
            found.add(node.module.split(".")[2])
    return found - {"__init__"}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_imaging_modules_import_each_other_without_a_circle() -> None:
    graph = {p.stem: _imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert graph["nnunet_data"] and "pipeline" not in graph["nnunet_data"]
    assert _cycle(graph) is None, f"import circle: {' -> '.join(_cycle(graph) or [])}"


def test_the_cycle_finder_sees_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_heldout_ids_keeps_its_public_names() -> None:
    from course_utils.imaging import holdout, pipeline

    assert pipeline.heldout_ids is holdout.heldout_ids
