"""The student edition (tools/student_edition.py, `make student`): no solution survives, every checker does.

The fast tests build the edition of every chapter notebook and read it. The execution tests run each student
notebook in smoke only up to and including its first exercise checker (the book build has already executed the
whole notebook once), in the book build's work folder (``$COURSE_WORK_DIR``, else ``_build/work``) so that
nnU-Net's converted data and models are reused, and assert that the untouched exercise answers "not attempted
yet". One class a part, so pytest-xdist's ``--dist loadscope`` spreads the parts over its workers.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("student_edition", ROOT / "tools" / "student_edition.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("student_edition", module)
    spec.loader.exec_module(module)
    return module


SE = _tool()
NOTEBOOKS = SE.toc_notebooks()


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student") / "edition"
    SE.write_edition(NOTEBOOKS, out)
    return out


def _student(edition: Path, path: Path) -> nbformat.NotebookNode:
    return nbformat.read(edition / path.relative_to(ROOT), as_version=4)


# ---------------------------------------------------------------- the conversion, on a notebook made here


def _planted() -> nbformat.NotebookNode:
    v4 = nbformat.v4
    claims = v4.new_code_cell("claim(1 + 1 == 2, 'arithmetic')", metadata={"tags": ["remove-cell"]})
    answer = v4.new_code_cell("def f(x):\n    # your code here\n    ...\n\nch08.check_ppmi(f)",
                              execution_count=3, outputs=[v4.new_output("stream", text="… not attempted yet")])
    return v4.new_notebook(cells=[
        v4.new_markdown_cell("# 8. Title"),
        claims,
        v4.new_markdown_cell("### Exercise 8.1\n\nWrite `f`."),
        answer,
        v4.new_markdown_cell("````{dropdown} Solution\n```{literalinclude} ../../course_utils/exercises/ch08.py\n"
                             ":pyobject: ppmi_solution\n```\n````"),
        v4.new_code_cell("print('worked solution')", metadata={"tags": ["solution"]}),
        v4.new_markdown_cell("````{dropdown} Solution\n```{literalinclude} x.py\n:pyobject: g_solution\n```\n````\n\n"
                             "### Exercise 8.2\n\nWrite `g`."),
        v4.new_markdown_cell(":::{dropdown} Solution for the curious\nUse `h_solution`.\n:::\n\n## Summary\n\n- done"),
    ])


def test_solutions_go_checkers_claims_and_tasks_stay():
    nb = _planted()
    student, removed, dropdowns = SE.student_notebook(nb, "planted.ipynb")
    sources = [c.source for c in student.cells]
    assert (removed, dropdowns) == (2, 3)  # the tagged cell and the dropdown-only cell; three dropdowns
    assert sources[:4] == [c.source for c in nb.cells[:4]]  # title, claims, task, answer + checker
    assert student.cells[1].metadata["tags"] == ["remove-cell"]
    assert sources[4] == "### Exercise 8.2\n\nWrite `g`."
    assert sources[5] == "## Summary\n\n- done"
    assert student.cells[3].outputs == [] and student.cells[3].execution_count is None
    assert SE.solution_leaks(student) == [] and SE.solution_leaks(nb) != []
    assert len(nb.cells) == 8 and nb.cells[3].outputs  # the input is untouched
    assert SE.first_checker_index(student) == 3


def test_a_solution_in_a_code_cell_is_refused_with_its_cell():
    nb = _planted()
    nb.cells.append(nbformat.v4.new_code_cell("ch08.check_ppmi(ch08.ppmi_solution)"))
    with pytest.raises(SE.StudentError, match=r"cell 8 \(code\).*ppmi_solution.*tag the cell 'solution'"):
        SE.student_notebook(nb, "planted.ipynb")


def test_command_errors_are_one_line_with_status_2_and_leave_the_old_edition(tmp_path):
    good = tmp_path / "good.ipynb"
    nbformat.write(_planted(), good)
    out = tmp_path / "edition"
    command = [sys.executable, str(ROOT / "tools" / "student_edition.py")]
    done = subprocess.run(command + ["write", "--out", str(out), "--notebook", str(good)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    written = sorted(p.relative_to(out) for p in out.rglob("*.ipynb"))
    assert written == [Path("notebooks/good.ipynb")]
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    failed = subprocess.run(command + ["write", "--out", str(out), "--notebook", str(good), "--notebook",
                                       str(broken)], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: ") and str(broken) in failed.stderr and len(failed.stderr.splitlines()) == 1
    assert sorted(p.relative_to(out) for p in out.rglob("*.ipynb")) == written  # the previous edition is intact
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".edition-")] == []  # no staging left behind
    leaky = tmp_path / "leaky"
    (leaky / "notebooks").mkdir(parents=True)
    nbformat.write(_planted(), leaky / "notebooks" / "x.ipynb")
    checked = subprocess.run(command + ["check", str(leaky)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 2 and "solution leak" in checked.stderr
    assert subprocess.run(command + ["check", str(out)], capture_output=True, timeout=120).returncode == 0


# ---------------------------------------------------------------- the course's notebooks


def test_every_chapter_has_a_student_notebook_without_solutions(edition):
    assert len(NOTEBOOKS) == 14
    for path in NOTEBOOKS:
        student = _student(edition, path)
        assert SE.solution_leaks(student) == [], path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_checkers_and_claims_are_unchanged(edition, path):
    original = nbformat.read(path, as_version=4)
    student = _student(edition, path)
    code = [c.source for c in original.cells if c.cell_type == "code"]
    assert [c.source for c in student.cells if c.cell_type == "code"] == code  # only markdown and outputs change
    hidden = [c.source for c in original.cells if "remove-cell" in c.metadata.get("tags", [])]
    assert [c.source for c in student.cells if "remove-cell" in c.metadata.get("tags", [])] == hidden
    assert SE.first_checker_index(student) is not None, "every chapter has at least one exercise"
    shown = [leak for leak in SE.solution_leaks(original) if "outputs" not in leak]
    assert shown, "the book shows each chapter's solutions; the student edition removes them"


# ---------------------------------------------------------------- each student notebook runs to its first exercise

_CPU_CELL = ("import resource as _r\n"
             "_u = [_r.getrusage(w) for w in (_r.RUSAGE_SELF, _r.RUSAGE_CHILDREN)]\n"
             "print('kernel cpu seconds (with its subprocesses)', round(sum(u.ru_utime + u.ru_stime for u in _u), 1))")


def _run_to_first_exercise(edition: Path, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    student = _student(edition, path)
    stop = SE.first_checker_index(student)
    checker = student.cells[stop]
    student.cells = student.cells[: stop + 1] + [nbformat.v4.new_code_cell(_CPU_CELL)]
    work = os.environ.get("COURSE_WORK_DIR") or str(ROOT / "_build" / "work")
    for name, value in {"COURSE_PROFILE": "smoke", "COURSE_WORK_DIR": work, "COURSE_STATIC_FIGURES": "1",
                        "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
                        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", "1")}.items():
        monkeypatch.setenv(name, value)
    start = time.perf_counter()
    NotebookClient(student, timeout=900, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str((edition / path.relative_to(ROOT)).parent)}}).execute()
    seconds = time.perf_counter() - start
    said = " ".join(str(o.get("text", "")) + " ".join(str(v) for v in o.get("data", {}).values())
                    for o in student.cells[stop].outputs)
    assert "not attempted yet" in said, f"{path.name}, cell {stop}:\n{checker.source}\n-> {said[:500]}"
    cpu = "".join(o.get("text", "") for o in student.cells[-1].outputs).strip()
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").is_file() else "?"
    print(f"{path.name}: to its first checker (cell {stop}) in {seconds:.1f} s wall, {cpu}, load {load}")


class TestPartOneRunsToItsFirstExercise:
    @pytest.mark.parametrize("path", [p for p in NOTEBOOKS if "part1" in p.parent.name], ids=lambda p: p.stem)
    def test_runs(self, edition, path, monkeypatch):
        _run_to_first_exercise(edition, path, monkeypatch)


class TestPartTwoRunsToItsFirstExercise:
    @pytest.mark.parametrize("path", [p for p in NOTEBOOKS if "part2" in p.parent.name], ids=lambda p: p.stem)
    def test_runs(self, edition, path, monkeypatch):
        _run_to_first_exercise(edition, path, monkeypatch)


class TestPartThreeRunsToItsFirstExercise:
    @pytest.mark.parametrize("path", [p for p in NOTEBOOKS if "part3" in p.parent.name], ids=lambda p: p.stem)
    def test_runs(self, edition, path, monkeypatch):
        _run_to_first_exercise(edition, path, monkeypatch)
