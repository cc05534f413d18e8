"""The benchmark record writer (issue 28): a record names the code that ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils import records


def test_a_record_names_the_commit_its_run_started_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long benchmark during which the checkout moves on keeps the commit it started from (the code it had
    imported), says where HEAD was at the end, and keeps the clean/dirty state of the start."""
    git = {"rev-parse": "a" * 40, "status": ""}
    monkeypatch.setattr(records, "_git", lambda *args: git[args[0]])
    run = records.start_run("ch00.provenance", seeds=[1], threads=2)
    git.update({"rev-parse": "b" * 40, "status": " M course_utils/x.py"})  # a commit and an edit during the run
    record = json.loads(records.write_record(run, figures={"f1": 0.5}, results_dir=tmp_path).read_text())
    assert record["commit"] == "a" * 40 and record["uncommitted_changes"] is False
    assert record["commit_at_end"] == "b" * 40

    still = records.start_run("ch00.provenance", seeds=[1])  # started dirty, nothing moved
    record = json.loads(records.write_record(still, figures={}, results_dir=tmp_path).read_text())
    assert record["commit"] == "b" * 40 and record["uncommitted_changes"] is True and "commit_at_end" not in record
    assert records.load_records(tmp_path)["ch00.provenance"]["commit"] == "b" * 40
