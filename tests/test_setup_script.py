"""Set-up script (README's commands): which interpreter it picks, and its errors before it touches the venv."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "course.sh"

# A stand-in interpreter: answers the script's three questions (does it run, is it 3.11/3.12, which version).
FAKE_PY310 = """#!/bin/sh
case "$2" in
  pass) exit 0 ;;
  *assert*) exit 1 ;;
  *print*) echo 3.10.9 ;;
esac
"""
BROKEN_SHIM = "#!/bin/sh\necho 'pyenv: python3.11: command not found' >&2\nexit 127\n"


def _write_exe(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _run_setup(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "COURSE_PYTHON"}
    full_env.update(COURSE_VENV=str(tmp_path / "venv"), **env)
    return subprocess.run(
        ["bash", str(SCRIPT), "setup"], env=full_env, capture_output=True, text=True, timeout=60
    )


def test_unrunnable_course_python_is_named_and_nothing_is_created(tmp_path: Path) -> None:
    shim = _write_exe(tmp_path / "python3.11", BROKEN_SHIM)
    result = _run_setup(tmp_path, COURSE_PYTHON=str(shim))
    assert result.returncode != 0
    assert f"{shim} cannot be run" in result.stderr
    assert "COURSE_PYTHON=" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_broken_shim_is_skipped_and_next_interpreter_is_checked(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _write_exe(bin_dir / "python3.11", BROKEN_SHIM)
    _write_exe(bin_dir / "python3.12", FAKE_PY310)
    # The fake folder comes first, so the real python3.11 further down PATH is never reached.
    path = f"{bin_dir}:{os.environ['PATH']}"
    result = _run_setup(tmp_path, PATH=path)
    assert result.returncode != 0
    # python3.11 (the shim) was skipped; python3.12 was picked and its version reported.
    assert "python3.12 is Python 3.10.9" in result.stderr
    assert "the course needs 3.11 or 3.12" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_runnable_first_candidate_is_kept(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _write_exe(bin_dir / "python3.11", FAKE_PY310)
    result = _run_setup(tmp_path, PATH=f"{bin_dir}:{os.environ['PATH']}")
    assert "python3.11 is Python 3.10.9" in result.stderr
    assert not (tmp_path / "venv").exists()
