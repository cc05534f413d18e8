"""Locked, idempotent caches shared between chapters (course_utils.cache)."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from course_utils.cache import cache_key, cached_folder


def test_key_depends_on_name_and_parameters_only():
    a = cache_key("sgns", {"dim": 32, "window": 4})
    assert a == cache_key("sgns", {"window": 4, "dim": 32})  # order does not matter
    assert a != cache_key("sgns", {"dim": 33, "window": 4})
    assert a.startswith("sgns-") and len(a) == len("sgns-") + 12
    with pytest.raises(ValueError, match="letters, digits"):
        cache_key("../escape", {})


def test_built_once_then_reused(tmp_path):
    calls = []

    def build(folder: Path) -> None:
        calls.append(folder)
        (folder / "vectors.txt").write_text("ok")

    first = cached_folder("demo", build, root=tmp_path)
    second = cached_folder("demo", build, root=tmp_path)
    assert first == second == tmp_path / "cache" / "demo"
    assert (first / "vectors.txt").read_text() == "ok"
    assert len(calls) == 1 and calls[0] != first  # built in a staging folder, then moved into place


def test_a_failed_build_leaves_nothing(tmp_path):
    def broken(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"x" * 10)
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        cached_folder("demo", broken, root=tmp_path)
    cache = tmp_path / "cache"
    assert not (cache / "demo").exists()
    assert [p.name for p in cache.iterdir() if p.name != ".locks"] == []  # no staging folder left behind
    # a later build succeeds
    assert (cached_folder("demo", lambda f: (f / "a").write_text("1"), root=tmp_path) / "a").read_text() == "1"


def _slow_build(root: str, log: str) -> None:
    def build(folder: Path) -> None:
        with open(log, "a") as handle:
            handle.write("built\n")
        time.sleep(0.5)
        (folder / "x").write_text("1")

    cached_folder("shared", build, root=Path(root))


def test_two_processes_build_once(tmp_path):
    log = tmp_path / "log.txt"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_slow_build, args=(str(tmp_path), str(log))) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert log.read_text().count("built") == 1
