"""The package itself: public API documented and typed, importable without notebooks, lint-clean."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import course_utils

ROOT = Path(__file__).resolve().parents[1]
MODULES = [m.name for m in pkgutil.walk_packages(course_utils.__path__, "course_utils.")]


def _public_functions():
    for name in MODULES:
        module = importlib.import_module(name)
        for public in getattr(module, "__all__", []):
            obj = getattr(module, public)
            if inspect.isfunction(obj) and obj.__module__ == name:
                yield name, public, obj


def test_every_module_declares_its_public_names():
    for name in MODULES:
        module = importlib.import_module(name)
        assert module.__doc__, f"{name} has no module docstring"
        assert hasattr(module, "__all__"), f"{name} has no __all__"
        for public in module.__all__:
            assert hasattr(module, public), f"{name}.__all__ names {public!r}, which does not exist"


def test_public_functions_have_docstrings_and_type_hints():
    functions = list(_public_functions())
    assert len(functions) > 40
    for module, name, fn in functions:
        assert fn.__doc__ and fn.__doc__.strip(), f"{module}.{name} has no docstring"
        hints = inspect.signature(fn)
        assert hints.return_annotation is not inspect.Signature.empty, f"{module}.{name} has no return type"
        for param in hints.parameters.values():
            if param.name not in ("self", "cls") and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                assert param.annotation is not inspect.Parameter.empty, f"{module}.{name}({param.name}) untyped"


def test_importing_the_package_does_not_import_heavy_libraries():
    code = "import sys, course_utils; print(sorted(m for m in ('torch', 'nnunetv2', 'transformers', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    result = subprocess.run([ruff, "check", "course_utils", "tests", "benchmarks", "book/_ext", "notebooks"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
