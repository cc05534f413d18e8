"""The results pages say what the committed benchmark records say (tools/render_results.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _renderer():
    spec = importlib.util.spec_from_file_location("render_results", ROOT / "tools" / "render_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_page_matches_its_template_and_records():
    render = _renderer()
    pages = render.render_all()
    stale = [path.relative_to(ROOT).as_posix() for path, text in pages.items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    assert not stale, f"pages out of date with benchmarks/results: {stale}; run `python tools/render_results.py`"


def test_every_record_is_complete():
    from course_utils.records import load_records

    for name, record in load_records().items():
        for key in ("command", "commit", "machine", "load_average_start", "seeds", "data_sha256", "figures",
                    "times_s", "started"):
            assert key in record, f"benchmarks/results/{name}.json lacks {key!r}"


def test_placeholders_fill_and_fail_with_file_and_line(tmp_path):
    render = _renderer()
    records = {"ch99.demo": {"name": "ch99.demo", "command": "python benchmarks/x.py", "commit": "abcdef0123",
                             "machine": {"arch": "x86_64", "cores": 2}, "threads": 2,
                             "load_average_start": [1.25, 1.0, 1.0], "started": "2026-12-07T05:00:00+00:00",
                             "figures": {"f1": {"mean": 0.70123, "seeds": [0.7, 0.71]}}, "times_s": {"total": 61.2}}}
    text = "F1 [[ch99.demo:figures.f1.mean:.3f]] ([[ch99.demo:figures.f1.seeds:.2f]]); [[ch99.demo:@run]]\n"
    out = render.render_text(text, records)
    assert out.startswith("F1 0.701 (0.70, 0.71); 2026-12-07; x86_64, 2 cores; 2 threads; load 1.2 at start")
    assert "`python benchmarks/x.py`" in out
    with pytest.raises(render.RenderError, match=r"page.md:2: no record 'ch99.other'"):
        render.render_text("ok\n[[ch99.other:figures.f1]]\n", records, source="page.md")
    with pytest.raises(render.RenderError, match=r"page.md:1: record 'ch99.demo' has no value at 'figures.f2'"):
        render.render_text("[[ch99.demo:figures.f2]]\n", records, source="page.md")


def test_a_malformed_record_is_named(tmp_path):
    from course_utils.records import RecordError, load_records

    (tmp_path / "ch99.bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(RecordError, match=r"ch99.bad.json:1: not valid JSON"):
        load_records(tmp_path)
    (tmp_path / "ch99.bad.json").write_text(json.dumps({"name": "other"}), encoding="utf-8")
    with pytest.raises(RecordError, match="its 'name' is 'other'"):
        load_records(tmp_path)


def test_keys_in_braces_and_the_short_conditions():
    render = _renderer()
    records = {"ch99.demo": {"name": "ch99.demo", "command": "python benchmarks/x.py", "commit": "abcdef0123",
                             "uncommitted_changes": True, "machine": {"arch": "x86_64", "cores": 2}, "threads": 1,
                             "load_average_start": [30.62, 1.0, 1.0], "started": "2026-12-07T05:00:00+00:00",
                             "figures": {"develop (tuning set)": {"tfidf | vocab [tfidf+context]": {"Acc@1": 0.8475}}},
                             "times_s": {"total": 1.0}}}
    text = "| [[ch99.demo:figures.{develop (tuning set)}.{tfidf | vocab [tfidf+context]}.{Acc@1}:.3f]] | [[ch99.demo:@cond]] |\n"
    assert render.render_text(text, records) == (
        "| 0.848 | 2026-12-07, 2 cores, 1 thread, load 30.6, abcdef0+ (`ch99.demo`) |\n")
    with pytest.raises(render.RenderError, match="has no value at"):
        render.render_text("[[ch99.demo:figures.{develop}.{Acc@1}]]\n", records)
