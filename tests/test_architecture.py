"""The package's dependency rule (issue 29), checked on every import of every module, lazy ones included.

The rule, as drawn in the README's ARCHITECTURE section: foundation modules import no part; imaging, text and ie
import the foundation; ie may import text (Part III builds on Part II), text never imports ie, imaging imports
neither; inside ie the chapter packages (ner, relations, linking) import the shared ie modules and never each
other; exercises and ``__main__`` command modules sit on top and may import anything. And no module imports
itself back through a circle.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import course_utils

PACKAGE = Path(course_utils.__file__).parent

#: layer -> the layers its modules may import (the table the README's ARCHITECTURE section shows).
ALLOWED: dict[str, set[str]] = {
    "foundation": {"foundation"},
    "imaging": {"foundation", "imaging"},
    "text": {"foundation", "text"},
    "ie": {"foundation", "text", "ie"},
    "ie.ner": {"foundation", "text", "ie", "ie.ner"},
    "ie.relations": {"foundation", "text", "ie", "ie.relations"},
    "ie.linking": {"foundation", "text", "ie", "ie.linking"},
    "top": {"foundation", "imaging", "text", "ie", "ie.ner", "ie.relations", "ie.linking", "top"},
}
CHAPTER_PACKAGES = ("ie.ner", "ie.relations", "ie.linking")


def module_names() -> dict[str, Path]:
    """Return every module of ``course_utils`` by dotted name (packages by their ``__init__``)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def layer(module: str) -> str:
    """Return the layer of a dotted module name of ``course_utils``."""
    rest = module.split(".")[1:]
    if not rest:
        return "foundation"
    if rest[0] == "exercises" or rest[-1] == "__main__":
        return "top"
    if rest[0] == "ie" and len(rest) > 1 and f"ie.{rest[1]}" in CHAPTER_PACKAGES:
        return f"ie.{rest[1]}"
    if rest[0] in ("imaging", "text", "ie"):
        return rest[0]
    return "foundation"


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Return the modules of ``course_utils`` that ``module`` imports anywhere in its file (functions included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # ``import course_utils.ie.brat.x`` -> the module part
                target = target.rpartition(".")[0]
            if target.startswith("course_utils") and target != module:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """Return module -> the ``course_utils`` modules it imports, for every module of the package."""
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import circle as a path ``[a, b, ..., a]``, or None when the graph has none."""
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


def test_no_module_imports_itself_back_through_a_circle() -> None:
    graph = import_graph()
    assert len(graph) > 80 and graph["course_utils.ie.ner.model"] >= {"course_utils.ie.crf", "course_utils.ie.bio"}
    cycle = find_cycle(graph)
    assert cycle is None, f"import circle: {' -> '.join(cycle or [])}"


def test_imports_flow_down_the_layers() -> None:
    wrong = [f"{module} ({layer(module)}) imports {target} ({layer(target)})"
             for module, targets in sorted(import_graph().items()) for target in sorted(targets)
             if layer(target) not in ALLOWED[layer(module)]]
    assert not wrong, "imports against the rule of tests/test_architecture.py:\n" + "\n".join(wrong)


def test_every_module_has_a_layer_and_the_table_is_closed() -> None:
    assert {layer(m) for m in module_names()} == set(ALLOWED)
    assert all(allowed <= set(ALLOWED) for allowed in ALLOWED.values())
    assert layer("course_utils.errors") == "foundation" and layer("course_utils.data.store") == "foundation"
    assert layer("course_utils.data.__main__") == "top" and layer("course_utils.exercises.ch13") == "top"
    assert layer("course_utils.ie.brat") == "ie" and layer("course_utils.ie.linking.rerank") == "ie.linking"


def test_the_checks_see_a_circle_and_a_wrong_import() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert "ie.relations" not in ALLOWED["ie.linking"] and "ie" not in ALLOWED["text"]
    assert "text" not in ALLOWED["imaging"] and ALLOWED["foundation"] == {"foundation"}


# ------------------------------------------------------------------ names kept for compatibility (issue 29)

def test_the_old_flat_ie_names_are_the_moved_modules() -> None:
    from course_utils import ie
    from course_utils.ie import linking, linking_data, ner_biored, ner_zh, relations  # old names
    from course_utils.ie.linking import data, linkers
    from course_utils.ie.ner import tagger
    from course_utils.ie.relations import models
    from course_utils.ie.relations import ner as relations_ner

    assert ner_zh is tagger and ner_biored is relations_ner and linking_data is data
    assert relations.train_relations is models.train_relations and linking.TfidfLinker is linkers.TfidfLinker
    import course_utils.ie.self_align as old_self_align

    from course_utils.ie.linking import self_align

    assert old_self_align is self_align
    for old, new in ie.MOVED.items():
        assert importlib.import_module(f"course_utils.ie.{old}") is importlib.import_module(f"course_utils.ie.{new}")
    with pytest.raises(AttributeError):
        relations.no_such_name  # noqa: B018


def test_heldout_ids_keeps_its_public_names() -> None:
    from course_utils.imaging import holdout, pipeline

    assert pipeline.heldout_ids is holdout.heldout_ids


def test_an_old_command_path_still_runs_its_command() -> None:
    result = subprocess.run([sys.executable, "-m", "course_utils.ie.ner_zh", "score", "--help"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "--gold" in result.stdout


@pytest.mark.parametrize("old, parts", [
    ("course_utils.ie.biored", ["course_utils.ie.biored.reader", "course_utils.ie.biored.scoring"]),
    ("course_utils.text.corpus", ["course_utils.text.synthetic_corpus", "course_utils.text.corpus_stats"]),
    ("course_utils.text.evaluate", ["course_utils.text.term_encoders"]),
    ("course_utils.ie.linking.data", ["course_utils.ie.linking.vocabulary", "course_utils.ie.linking.abbreviations",
                                      "course_utils.ie.linking.synthetic"]),
    ("course_utils.imaging.nnunet_train", ["course_utils.imaging.nnunet_trainer",
                                           "course_utils.imaging.nnunet_records", "course_utils.imaging.nnunet_adopt"]),
])
def test_a_split_module_keeps_every_public_name_of_its_parts(old: str, parts: list[str]) -> None:
    """The modules split late in issue 29 hand on every public name of the modules their code moved to, as the
    same object (a reader's ``from course_utils.text.corpus import synthetic_corpus`` keeps working)."""
    module = importlib.import_module(old)
    for part in parts:
        new = importlib.import_module(part)
        for name in new.__all__:
            assert getattr(module, name, None) is getattr(new, name), f"{old}.{name} is not {part}.{name}"
