"""The data layer against a real HTTP server on loopback: every way a download can go wrong."""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from course_utils.data import (
    COMPLETE_MARKER,
    fetch,
    load_manifest,
    recorded_checksums,
    require_dataset,
    verify,
)
from course_utils.data.__main__ import main as cli
from course_utils.errors import DataMissingError, DownloadError, IntegrityError, ManifestError, UnsafeArchiveError

from .conftest import file_entry, sha256

BODY = b"biomedical " * 50_000  # 550 kB: several download chunks


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


def test_good_file_is_fetched_once(server, manifests, tmp_path):
    url = server.add("/good.txt", BODY)
    manifests("good", [file_entry(url, BODY)], layout={"files": ["good.txt"]})
    folder = fetch("good", show_progress=False)
    assert (folder / "good.txt").read_bytes() == BODY
    assert json.loads((folder / COMPLETE_MARKER).read_text())["name"] == "good"
    assert fetch("good") == folder and len(server.gets("/good.txt")) == 1  # idempotent: no second request
    assert verify("good").ok
    assert not list(tmp_path.rglob("*.part"))


def test_corrupted_file_is_removed_and_never_used(server, manifests, tmp_path):
    url = server.add("/bad.txt", BODY[:-1] + b"X")
    manifests("bad", [file_entry(url, BODY)])
    with pytest.raises(IntegrityError, match=r"checksum .* removed and never used.*fetch bad"):
        fetch("bad", show_progress=False)
    assert [p for p in _tree(tmp_path / "data") if "bad" in p and not p.startswith(".locks")] == [".downloads/bad"]


def test_wrong_size_is_refused(server, manifests, tmp_path):
    url = server.add("/short.txt", BODY)
    manifests("short", [file_entry(url, BODY, size=len(BODY) + 10)])
    with pytest.raises(IntegrityError, match="gave 550000 bytes, but the manifest says 550010"):
        fetch("short", show_progress=False)
    assert not list((tmp_path / "data").rglob("short.txt*"))


def test_truncated_download_resumes_with_range(server, manifests, tmp_path):
    url = server.add("/big.bin", BODY, cut_after=200_000)
    manifests("big", [file_entry(url, BODY)])
    with pytest.raises(DownloadError, match="partial file .* is kept and the next attempt resumes"):
        fetch("big", show_progress=False)
    part = tmp_path / "data" / ".downloads" / "big" / "big.bin.part"
    kept = part.stat().st_size
    assert 100_000 < kept <= 200_000  # what arrived, up to the last whole chunk
    folder = fetch("big", show_progress=False)
    assert (folder / "big.bin").read_bytes() == BODY
    assert server.gets("/big.bin") == [None, f"bytes={kept}-"]


def test_server_that_ignores_range_restarts_cleanly(server, manifests, tmp_path):
    url = server.add("/norange.bin", BODY, cut_after=100_000, honour_range=False)
    manifests("norange", [file_entry(url, BODY)])
    with pytest.raises(DownloadError):
        fetch("norange", show_progress=False)
    assert (fetch("norange", show_progress=False) / "norange.bin").read_bytes() == BODY


def test_server_down_names_the_command(manifests):
    manifests("down", [file_entry("http://127.0.0.1:9/none.txt", BODY)])
    with pytest.raises(DownloadError, match=r"server is down or this machine is offline.*python -m course_utils.data fetch down"):
        fetch("down", show_progress=False)


def test_offline_flag(manifests, monkeypatch):
    manifests("off", [file_entry("http://127.0.0.1:9/none.txt", BODY)])
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(DownloadError, match="COURSE_OFFLINE is set"):
        fetch("off")


def test_404_names_the_url(server, manifests):
    manifests("gone", [file_entry(f"{server.url}/missing.txt", BODY)])
    with pytest.raises(DownloadError, match=r"missing.txt answered HTTP 404"):
        fetch("gone", show_progress=False)


def test_redirect_is_followed(server, manifests):
    final = server.add("/final.txt", BODY)
    start = server.add("/moved.txt", redirect=final)
    manifests("moved", [file_entry(start, BODY, filename="moved.txt")])
    assert (fetch("moved", show_progress=False) / "moved.txt").read_bytes() == BODY
    assert server.gets("/moved.txt") and server.gets("/final.txt")


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


GOOD_TAR = _tar([(tarfile.TarInfo("ds/a.txt"), b"alpha"), (tarfile.TarInfo("ds/sub/b.txt"), b"beta")])


def test_archive_is_extracted(server, manifests):
    url = server.add("/ds.tar", GOOD_TAR)
    manifests("ds", [file_entry(url, GOOD_TAR, extract=True)], layout={"files": ["ds/a.txt", "**/b.txt"]})
    folder = fetch("ds", show_progress=False)
    assert (folder / "ds" / "sub" / "b.txt").read_text() == "beta"
    assert not (folder / "ds.tar").exists()  # the archive is removed once extracted


@pytest.mark.parametrize("members, reason", [
    ([(tarfile.TarInfo("../evil.txt"), b"x")], "climbs out"),
    ([(tarfile.TarInfo("/tmp/evil.txt"), b"x")], "absolute path"),
    ([(_link("ds/link", "../../outside", tarfile.SYMTYPE), None)], "symbolic link"),
    ([(_link("ds/abs", "/etc/passwd", tarfile.SYMTYPE), None)], "symbolic link"),
    ([(_link("ds/hard", "../outside.txt", tarfile.LNKTYPE), None)], "hard link"),
])
def test_unsafe_tar_is_refused_whole(server, manifests, tmp_path, members, reason):
    body = _tar([(tarfile.TarInfo("ds/ok.txt"), b"fine"), *members])
    url = server.add("/evil.tar", body)
    manifests("evil", [file_entry(url, body, extract=True)])
    with pytest.raises(UnsafeArchiveError, match=reason):
        fetch("evil", show_progress=False)
    data = tmp_path / "data"
    assert not (data / "evil").exists() and not (tmp_path / "evil.txt").exists()
    assert not [p for p in _tree(data) if ".extract-" in p]


def test_unsafe_zip_is_refused(server, manifests, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../../evil.txt", "bad")
    body = buffer.getvalue()
    url = server.add("/evil.zip", body)
    manifests("evilzip", [file_entry(url, body, extract=True)])
    with pytest.raises(UnsafeArchiveError, match="climbs out"):
        fetch("evilzip", show_progress=False)
    assert not (tmp_path / "data" / "evilzip").exists() and not (tmp_path / "evil.txt").exists()


def test_zip_is_extracted(server, manifests):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("corpus/Train.PubTator", "1|t|A title\n1|a|An abstract\n\n2|t|B\n2|a|C\n")
    body = buffer.getvalue()
    url = server.add("/corpus.zip", body)
    manifests("corpus", [file_entry(url, body, extract=True)],
              checks=[{"path": "**/Train.PubTator", "kind": "pubtator_documents", "expected": 2}])
    assert fetch("corpus", show_progress=False).is_dir() and verify("corpus").ok


def test_unverified_file_records_its_checksum_then_is_held_to_it(server, manifests, tmp_path):
    url = server.add("/new.txt", BODY)
    manifests("new", [file_entry(url, None)], status="unverified")
    fetch("new", show_progress=False)
    lock = recorded_checksums(tmp_path / "data")
    assert lock["new/new.txt"]["sha256"] == sha256(BODY) and lock["new/new.txt"]["size"] == len(BODY)
    manifest_text = (tmp_path / "manifests" / "new.yaml").read_text()
    assert "sha256" not in manifest_text  # recorded in COURSE_DATA_DIR, never in the tracked manifest
    # The file changes upstream: a fresh fetch must refuse it.
    import shutil

    shutil.rmtree(tmp_path / "data" / "new")
    server.routes["/new.txt"].body = BODY.replace(b"bio", b"BIO", 1)
    with pytest.raises(IntegrityError, match="checksum"):
        fetch("new", show_progress=False)
    assert verify("new").problems  # nothing there any more


def test_read_only_prestaged_folder_is_verified_never_written(server, manifests, tmp_path, monkeypatch):
    url = server.add("/staged.txt", BODY)
    manifests("staged", [file_entry(url, BODY)])
    staged = tmp_path / "data" / "staged"
    staged.mkdir(parents=True)
    (staged / "staged.txt").write_bytes(BODY)
    monkeypatch.setenv("COURSE_DATA_READONLY", "1")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "data").rglob("*")}
    assert fetch("staged") == staged and require_dataset("staged") == staged
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "data").rglob("*")} == before
    assert server.gets("/staged.txt") == []
    (staged / "staged.txt").write_bytes(BODY[:10])  # the administrator's copy is damaged
    with pytest.raises(DataMissingError, match=r"(?s)read-only .* incomplete.*sha256 is"):
        fetch("staged")


def _fetch_in_process(name: str) -> str:
    return str(fetch(name, show_progress=False))


def test_two_processes_fetching_at_once_download_once(server, manifests):
    url = server.add("/shared.bin", BODY, delay=1.0)
    manifests("shared", [file_entry(url, BODY)])
    with mp.get_context("spawn").Pool(2) as pool:
        first, second = pool.map(_fetch_in_process, ["shared", "shared"])
    assert first == second and Path(first, "shared.bin").read_bytes() == BODY
    assert len(server.gets("/shared.bin")) == 1


def test_manual_dataset_gives_steps_then_accepts_placed_files(manifests, tmp_path):
    manifests("handmade", [], status="manual", manual_steps=["Log in at the provider.", "Unzip into the folder."],
              checks=[{"path": ".", "kind": "brat_documents", "expected": 2}])
    with pytest.raises(DataMissingError, match=r"Place it by hand:\n  1. Log in at the provider."):
        fetch("handmade")
    folder = tmp_path / "data" / "handmade"
    folder.mkdir(parents=True)
    for i in range(2):
        (folder / f"{i}.txt").write_text("x")
        (folder / f"{i}.ann").write_text("T1\tX 0 1\tx\n")
    assert fetch("handmade") == folder and (folder / COMPLETE_MARKER).is_file()


def test_bad_manifests_are_clear(manifests, tmp_path):
    with pytest.raises(ManifestError, match="No manifest 'nothing'"):
        load_manifest("nothing")
    path = manifests("broken", [{"url": "http://x/y", "size": "big", "checksum": None}])
    with pytest.raises(ManifestError, match=r"broken.yaml does not follow .* at files/0/size"):
        load_manifest("broken")
    path.write_text("name: other\n")
    with pytest.raises(ManifestError, match="schema"):
        load_manifest("broken")


def test_command_line(server, manifests, capsys):
    url = server.add("/cli.txt", BODY)
    manifests("cli", [file_entry(url, BODY)], layout={"files": ["cli.txt"]})
    assert cli(["list"]) == 0 and "cli" in capsys.readouterr().out
    assert cli(["verify", "cli"]) == 1 and "INCOMPLETE" in capsys.readouterr().out
    assert cli(["fetch", "cli"]) == 0
    assert cli(["verify", "cli"]) == 0 and "complete" in capsys.readouterr().out
    assert cli(["fetch", "nothing"]) == 2 and "No manifest 'nothing'" in capsys.readouterr().err


def test_real_manifests_all_validate():
    os.environ.pop("COURSE_MANIFEST_DIR", None)
    from course_utils.data import list_manifests

    for name in list_manifests():
        m = load_manifest(name)
        assert m.name == name
