import io
import tarfile

import pytest

from course_utils.data import data_dir_writable, dataset_present
from course_utils.data.archive import is_archive, safe_extract
from course_utils.data.checks import count, run_check
from course_utils.data.download import file_digest
from course_utils.data.manifest import Check
from course_utils.errors import UnsafeArchiveError


def test_counts(tmp_path):
    (tmp_path / "Train.PubTator").write_text("1|t|T\n1|a|A\n1\t0\t1\tx\tDisease\tD1\n\n2|t|T\n2|a|A\n")
    (tmp_path / "ncbi.txt").write_text("10|t|Title one\n10|a|abstract\n")
    (tmp_path / "rows.tsv").write_text("id\ttext\n1\ta\n2\tb\n3\tc\n")
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text("x")
    (tmp_path / "0.ann").write_text("T1\tX 0 1\tx\n")
    assert count(tmp_path / "Train.PubTator", "pubtator_documents") == 2
    assert count(tmp_path / "ncbi.txt", "pubtator_documents") == 1
    assert count(tmp_path / "rows.tsv", "tsv_rows") == 3
    assert count(tmp_path / "rows.tsv", "count_lines") == 4
    assert count(tmp_path, "brat_documents") == 1
    assert count(tmp_path, "count_files", "*.txt") == 4  # 0-2.txt and ncbi.txt
    with pytest.raises(ValueError, match="unknown check kind"):
        count(tmp_path / "rows.tsv", "words")
    ok, message = run_check(tmp_path, Check("**/Train.PubTator", "pubtator_documents", 3))
    assert not ok and "2 by pubtator_documents, expected 3" in message
    ok, message = run_check(tmp_path, Check("nothing.txt", "count_lines", 1))
    assert not ok and "not found" in message


def test_digest_and_archive_detection(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc")
    assert file_digest(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert file_digest(path, "md5") == "900150983cd24fb0d6963f7d28e17f72"
    assert not is_archive(path)
    with pytest.raises(UnsafeArchiveError, match="neither a tar nor a zip"):
        safe_extract(path, tmp_path / "out")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("a/b.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (tmp_path / "a.tar.gz").write_bytes(buffer.getvalue())
    assert is_archive(tmp_path / "a.tar.gz")
    assert (safe_extract(tmp_path / "a.tar.gz", tmp_path / "out") / "a" / "b.txt").read_text() == "x"


def test_writability(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_READONLY", raising=False)
    assert data_dir_writable(tmp_path / "new")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert not data_dir_writable(blocker / "data")
    monkeypatch.setenv("COURSE_DATA_READONLY", "1")
    assert not data_dir_writable(tmp_path)


def test_presence_needs_the_marker(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    (tmp_path / "x").mkdir()
    assert not dataset_present("x")
    (tmp_path / "x" / ".course-complete").write_text("{}")
    assert dataset_present("x")
