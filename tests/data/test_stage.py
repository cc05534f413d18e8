"""Staging a folder a lab administrator already has: copied, verified, marked complete, or nothing at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils.data import COMPLETE_MARKER, dataset_present, fetch, recorded_checksums, stage, verify
from course_utils.data.__main__ import main as cli
from course_utils.errors import DataMissingError, IntegrityError, OutputNotWritableError

from .conftest import file_entry, sha256

CONFIG = b'{"model_type": "bert", "hidden_size": 8}'
VOCAB = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nfever\n"
WEIGHTS = bytes(range(256)) * 400  # 102,400 bytes


def _model_source(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_bytes(CONFIG)
    (folder / "vocab.txt").write_bytes(VOCAB)
    (folder / "pytorch_model.bin").write_bytes(WEIGHTS)
    (folder / "tf_model.h5").write_bytes(b"not used by the course")
    return folder


def _model_manifest(manifests, name: str = "tinybert", pinned: bool = False) -> None:
    files = {"config.json": CONFIG, "vocab.txt": VOCAB, "pytorch_model.bin": WEIGHTS}
    entries = [file_entry(f"http://127.0.0.1:9/{f}", body if pinned else None, filename=f)
               for f, body in files.items()]
    manifests(name, entries, kind="model", status="verified" if pinned else "unverified",
              hub_id="test-org/tiny-bert", revision="0" * 40, layout={"files": list(files)})


def _leftovers(data: Path) -> list[str]:
    return sorted(p.name for p in data.rglob("*") if p.name.startswith(".stage-") or p.name.endswith(".part"))


def test_a_model_folder_is_staged_verified_and_recorded(manifests, tmp_path):
    _model_manifest(manifests)
    source = _model_source(tmp_path / "snapshot")
    folder = stage("tinybert", source, show_progress=False)
    data = tmp_path / "data"
    assert folder == data / "tinybert"
    # only the manifest's files: the TensorFlow weights of the snapshot stay behind
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [COMPLETE_MARKER, "config.json", "vocab.txt", "pytorch_model.bin"])
    assert (folder / "pytorch_model.bin").read_bytes() == WEIGHTS
    marker = json.loads((folder / COMPLETE_MARKER).read_text())
    assert marker["name"] == "tinybert" and marker["staged_from"] == str(source.resolve())
    lock = recorded_checksums(data)
    assert lock["tinybert/pytorch_model.bin"]["sha256"] == sha256(WEIGHTS)
    assert lock["tinybert/pytorch_model.bin"]["size"] == len(WEIGHTS) == 102_400
    assert set(lock) == {"tinybert/config.json", "tinybert/vocab.txt", "tinybert/pytorch_model.bin"}
    assert dataset_present("tinybert") and verify("tinybert").ok
    assert fetch("tinybert") == folder  # complete: no download attempted (the manifest's URLs lead nowhere)
    assert _leftovers(data) == []


def test_staging_again_with_other_weights_is_refused_against_the_lock(manifests, tmp_path):
    _model_manifest(manifests)
    stage("tinybert", _model_source(tmp_path / "first"), show_progress=False)
    other = _model_source(tmp_path / "second")
    (other / "pytorch_model.bin").write_bytes(WEIGHTS[::-1])  # same size, other bytes
    with pytest.raises(IntegrityError, match=r"(?s)pytorch_model\.bin: sha256 is .* recorded "
                                             + sha256(WEIGHTS) + r".*Nothing was staged"):
        stage("tinybert", other, show_progress=False)
    data = tmp_path / "data"
    assert (data / "tinybert" / "pytorch_model.bin").read_bytes() == WEIGHTS  # the first staging is untouched
    assert verify("tinybert").ok and _leftovers(data) == []
    # the same files again: the folder is replaced whole, still complete
    assert stage("tinybert", tmp_path / "first", show_progress=False) == data / "tinybert"
    assert verify("tinybert").ok and _leftovers(data) == []


def test_a_file_that_differs_from_the_pinned_checksum_is_never_staged(manifests, tmp_path):
    _model_manifest(manifests, pinned=True)
    source = _model_source(tmp_path / "snapshot")
    data = bytearray(WEIGHTS)
    data[500] ^= 0xFF
    (source / "pytorch_model.bin").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"pytorch_model\.bin: sha256 is .* pins " + sha256(WEIGHTS)):
        stage("tinybert", source, show_progress=False)
    assert not (tmp_path / "data" / "tinybert").exists()
    assert recorded_checksums(tmp_path / "data") == {} and _leftovers(tmp_path / "data") == []
    (source / "pytorch_model.bin").write_bytes(WEIGHTS)
    assert verify("tinybert", stage("tinybert", source, show_progress=False)).ok
    assert recorded_checksums(tmp_path / "data") == {}  # pinned files need no record


def test_a_missing_file_names_itself(manifests, tmp_path):
    _model_manifest(manifests)
    source = _model_source(tmp_path / "snapshot")
    (source / "vocab.txt").unlink()
    with pytest.raises(DataMissingError, match=r"snapshot has no vocab\.txt, which the manifest .*tinybert\.yaml lists"):
        stage("tinybert", source, show_progress=False)
    with pytest.raises(DataMissingError, match="is not a folder"):
        stage("tinybert", tmp_path / "nowhere", show_progress=False)
    assert not (tmp_path / "data" / "tinybert").exists() and _leftovers(tmp_path / "data") == []


def test_a_dataset_folder_is_staged_whole_and_its_counts_checked(manifests, tmp_path):
    manifests("brat", [], status="manual", manual_steps=["Place it."], layout={"files": ["*.txt", "*.ann"]},
              checks=[{"path": ".", "kind": "brat_documents", "expected": 2}])
    source = tmp_path / "unzipped"
    (source / "notes").mkdir(parents=True)
    for i in range(2):
        (source / f"{i}.txt").write_text("x")
        (source / f"{i}.ann").write_text("T1\tX 0 1\tx\n")
    (source / "notes" / "readme.md").write_text("kept: datasets are staged whole")
    (source / "half.bin.part").write_text("never copied")
    folder = stage("brat", source, show_progress=False)
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        COMPLETE_MARKER, "0.ann", "0.txt", "1.ann", "1.txt", "notes/readme.md"]
    # one document short: refused, and the good staging stays as it was
    short = tmp_path / "short"
    short.mkdir()
    (short / "0.txt").write_text("x")
    (short / "0.ann").write_text("T1\tX 0 1\tx\n")
    with pytest.raises(DataMissingError, match=r"(?s)does not hold a complete brat.*1 by brat_documents, expected 2"):
        stage("brat", short, show_progress=False)
    assert (folder / "1.ann").is_file() and (folder / COMPLETE_MARKER).is_file()
    assert _leftovers(tmp_path / "data") == []


def test_a_read_only_data_folder_is_not_staged_into(manifests, tmp_path, monkeypatch):
    _model_manifest(manifests)
    monkeypatch.setenv("COURSE_DATA_READONLY", "1")
    with pytest.raises(OutputNotWritableError, match="read-only"):
        stage("tinybert", _model_source(tmp_path / "snapshot"), show_progress=False)
    assert not (tmp_path / "data" / "tinybert").exists()


def test_command_line_stage(manifests, tmp_path, capsys):
    _model_manifest(manifests)
    source = _model_source(tmp_path / "snapshot")
    assert cli(["stage", "tinybert", str(source)]) == 0
    assert "tinybert: staged in" in capsys.readouterr().out
    assert cli(["verify", "tinybert"]) == 0
    (source / "config.json").write_bytes(b"{}")
    assert cli(["stage", "tinybert", str(source)]) == 2
    assert "recorded" in capsys.readouterr().err
