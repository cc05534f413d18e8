"""Chapter 12: the brat reader and writer on crafted files, and the no-redistribution guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.ie.brat import (
    MARKER_FILE,
    BratError,
    Entity,
    NotRedistributableError,
    corpus_counts,
    format_ann,
    is_redistributable,
    leaked_text,
    list_problems,
    parse_ann,
    read_document,
    read_folder,
    show_entities,
    write_document,
)

TEXT = "患者有2型糖\n尿病，左、右下肢麻木。"
#       0123456 7890123456789


def _write(folder: Path, stem: str, text: str, ann: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.txt").write_text(text, encoding="utf-8")
    (folder / f"{stem}.ann").write_text(ann, encoding="utf-8")
    return folder / f"{stem}.txt"


def test_parse_discontinuous_nested_and_newline_crossing() -> None:
    ann = ("T1\tDisease 3 6;7 9\t2型糖 尿病\n"      # crosses the newline: two fragments
           "T2\tAnatomy 10 11;13 15\t左 下肢\n"      # a true discontinuity
           "T3\tAnatomy 12 15\t右下肢\n"
           "T4\tSymptom 15 17\t麻木\n"
           "T5\tDisease 5 6\t糖\n"                   # nested inside T1
           "R1\tCause Arg1:T1 Arg2:T4\n#1\tAnnotatorNotes T1\tnote\n")
    ents, problems = parse_ann(ann, TEXT, file="x.ann")
    assert problems == []
    assert [e.id for e in ents] == ["T1", "T2", "T3", "T4", "T5"]
    assert ents[0].spans == ((3, 6), (7, 9)) and ents[0].discontinuous
    assert ents[1].spans == ((10, 11), (13, 15))
    assert not ents[2].discontinuous and ents[2].start == 12 and ents[2].end == 15
    assert ents[0].line == 1 and ents[4].line == 5


def test_every_problem_is_reported_with_file_and_line() -> None:
    ann = ("T1\tDisease 3 6\t2型X\n"            # mismatch
           "T2 Disease 3 6 2型糖\n"              # malformed (spaces instead of tabs)
           "T3\tDisease 30 40\tzz\n"             # outside the text
           "T4\tDisease 6 3\tzz\n"               # reversed
           "T1\tDisease 3 6\t2型糖\n"            # duplicate id
           "X9\tsomething\n")                    # unknown line
    ents, problems = parse_ann(ann, TEXT, file="bad.ann")
    kinds = [(p.line, p.kind) for p in problems]
    assert kinds == [(1, "mismatch"), (2, "malformed"), (3, "offsets"), (4, "offsets"), (5, "duplicate-id"),
                     (6, "other-line")]
    assert [e.id for e in ents] == ["T1"]  # mismatched entities are kept, offsets trusted
    assert str(problems[0]).startswith("bad.ann:1: mismatch")


def test_read_folder_sorts_numerically_and_reports_missing_files(tmp_path: Path) -> None:
    for stem in ("10", "2", "1"):
        _write(tmp_path, stem, TEXT, "T1\tDisease 3 6;7 9\t2型糖 尿病\n")
    (tmp_path / "7.ann").write_text("", encoding="utf-8")
    (tmp_path / "8.txt").write_text("无标注", encoding="utf-8")
    corpus = read_folder(tmp_path)
    assert [d.doc_id for d in corpus.documents] == ["1", "2", "8", "10"]
    assert sorted(p.kind for p in corpus.problems) == ["missing-ann", "missing-txt"]
    counts = corpus_counts(corpus)
    assert counts["documents"] == 4 and counts["entities"] == 3
    assert counts["discontinuous"] == 3 and counts["newline_gaps"] == 3
    with pytest.raises(BratError, match="not a folder"):
        read_folder(tmp_path / "nope")


def test_writer_round_trip(tmp_path: Path) -> None:
    ents = [Entity("T1", "Disease", ((3, 6), (7, 9))), Entity("T2", "Symptom", ((15, 17),))]
    write_document(tmp_path, "doc", TEXT, ents)
    doc = read_document(tmp_path / "doc.txt")
    assert doc.problems == ()
    assert [(e.type, e.spans) for e in doc.entities] == [(e.type, e.spans) for e in ents]
    assert format_ann(doc.entities, TEXT) == (tmp_path / "doc.ann").read_text(encoding="utf-8")
    assert not list(tmp_path.glob("*.part"))


def test_guard_refuses_text_of_a_folder_marked_not_redistributable(tmp_path: Path) -> None:
    open_dir, closed_dir = tmp_path / "open", tmp_path / "closed"
    _write(open_dir, "1", TEXT, "T1\tDisease 3 6\t2型X\n")
    _write(closed_dir / "sub", "1", TEXT, "T1\tDisease 3 6\t2型X\n")
    (closed_dir / MARKER_FILE).write_text("", encoding="utf-8")
    shown = read_folder(open_dir)
    assert shown.redistributable and "Disease" in show_entities(shown.documents[0])
    assert "1.ann:1: mismatch" in list_problems(shown)
    hidden = read_folder(closed_dir / "sub")
    assert not hidden.redistributable and not hidden.documents[0].redistributable
    with pytest.raises(NotRedistributableError, match="not redistributable"):
        show_entities(hidden.documents[0])
    with pytest.raises(NotRedistributableError):
        list_problems(hidden)
    with pytest.raises(NotRedistributableError):
        list_problems(hidden.documents[0])
    assert corpus_counts(hidden)["problems"] == {"mismatch": 1}  # counts stay available
    named = tmp_path / "ruijin_diabetes"
    _write(named, "1", TEXT, "")
    assert not is_redistributable(named) and not is_redistributable(named / "1.txt")
    assert is_redistributable(open_dir / "1.txt")


def test_crlf_files_keep_their_offsets(tmp_path: Path) -> None:
    """brat offsets count the \\r of a CRLF line end; the reader must not translate it away (review finding 5)."""
    text = "患者血糖高。\r\n服用二甲双胍。"
    start = text.index("二甲双胍")
    folder = tmp_path / "crlf"
    folder.mkdir()
    (folder / "1.txt").write_bytes(text.encode("utf-8"))
    (folder / "1.ann").write_bytes(f"T1\tDrug {start} {start + 4}\t二甲双胍\r\n".encode())
    doc = read_document(folder / "1.txt")
    assert doc.text == text and doc.problems == ()
    assert [(e.type, e.spans, e.mention) for e in doc.entities] == [("Drug", ((start, start + 4),), "二甲双胍")]
    out = tmp_path / "out"
    write_document(out, "1", doc.text, doc.entities)
    assert (out / "1.txt").read_bytes() == text.encode("utf-8")


def test_a_protected_folder_stays_protected_through_a_link(tmp_path: Path) -> None:
    """A folder named like the Ruijin one, reached through a link with another name, or a link with the protected
    name pointing at an ordinary folder: both refused (review finding 4)."""
    real = tmp_path / "ruijin_diabetes"
    _write(real, "1", "患者。", "")
    (tmp_path / "staged").symlink_to(real)
    assert not is_redistributable(tmp_path / "staged" / "1.txt")
    plain = tmp_path / "archive_folder"
    _write(plain, "1", "患者。", "")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ruijin_diabetes").symlink_to(plain)
    assert not is_redistributable(tmp_path / "data" / "ruijin_diabetes" / "1.txt")
    assert not read_folder(tmp_path / "data" / "ruijin_diabetes", require_ann=False).redistributable
    assert is_redistributable(plain / "1.txt")


@pytest.mark.parametrize("name", ["ruijin_round1_train_20181022", "ruijin_round1_train2_20181022"])
def test_the_archives_own_folder_names_are_protected(tmp_path: Path, name: str) -> None:
    """`ner_zh train --data <the unzipped archive's folder>` is guarded too, and through a link (finding 4)."""
    folder = tmp_path / name
    _write(folder, "1", "患者。", "")
    assert not read_folder(folder).redistributable
    (tmp_path / "mine").symlink_to(folder)
    assert not read_folder(tmp_path / "mine").redistributable


@pytest.mark.parametrize("how", ["fetch", "stage"])
def test_fetch_and_stage_write_the_marker_for_a_manifest_marked_not_redistributable(tmp_path: Path,
                                                                                       how: str) -> None:
    """data_manifests/ruijin_diabetes.yaml says `redistributable: false`; the data layer writes the marker file
    the reader looks for, so the folder stays protected under any name or link (finding 4)."""
    from dataclasses import replace

    from course_utils.data import fetch, stage
    from course_utils.data.manifest import load_manifest
    from course_utils.ie.ner.synthetic import synthetic_documents, write_synthetic_folder

    manifest = load_manifest("ruijin_diabetes")
    assert manifest.redistributable is False
    small = replace(manifest, checks=())  # synthetic stand-in documents instead of the 363 real ones
    root = tmp_path / "data"
    if how == "stage":
        source = write_synthetic_folder(tmp_path / "source", synthetic_documents(2, seed=1))
        folder = stage("ruijin_diabetes", source, root=root, manifest=small, show_progress=False)
    else:
        write_synthetic_folder(root / "ruijin_diabetes", synthetic_documents(2, seed=1))
        folder = fetch("ruijin_diabetes", root=root, manifest=small, show_progress=False)
    assert (folder / MARKER_FILE).is_file()
    moved = tmp_path / "renamed_copy"
    folder.rename(moved)  # no protective name any more: the marker alone guards it
    assert not read_folder(moved).redistributable
    open_manifest = replace(small, redistributable=True, name="open_corpus")
    other = write_synthetic_folder(tmp_path / "data2" / "open_corpus", synthetic_documents(1, seed=1))
    fetch("open_corpus", root=tmp_path / "data2", manifest=open_manifest, show_progress=False)
    assert not (other / MARKER_FILE).exists()


def test_leaked_text_finds_a_corpus_window_in_a_page_and_returns_counts_only(tmp_path: Path) -> None:
    from course_utils.ie.ner.synthetic import synthetic_documents, write_synthetic_folder

    corpus = read_folder(write_synthetic_folder(tmp_path / "c", synthetic_documents(2, seed=3)))
    text = corpus.documents[0].text
    start = next(i for i in range(len(text)) if "\n" not in text[i:i + 14] and " " not in text[i:i + 14]
                 and sum("\u4e00" <= c <= "\u9fff" for c in text[i:i + 14]) >= 12)
    page = tmp_path / "page.html"
    page.write_text(f"<p>{text[start:start + 7]}<b>{text[start + 7:start + 14]}</b></p>", encoding="utf-8")
    clean = tmp_path / "clean.html"
    clean.write_text("<p>只有计数和分数，没有文本内容可以显示</p>", encoding="utf-8")
    found = leaked_text(corpus, [page, clean])
    assert set(found) == {str(page)} and found[str(page)] >= 1 and all(isinstance(v, int) for v in found.values())
