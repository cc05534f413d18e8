"""Chapter 12 on the real Ruijin files (COURSE_REAL_DATA): the reader reproduces the README's counts.

Counts only: no text of this corpus is printed, stored or compared against literal strings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.ie.bio import EncodeStats, encode_document
from course_utils.ie.brat import NotRedistributableError, corpus_counts, list_problems, read_folder, show_entities
from course_utils.ie.ner.tagger import load_split

pytestmark = pytest.mark.real_data

README_TYPES = {"Test": 39579, "Disease": 30543, "Anatomy": 20432, "Drug": 12400, "Test_Value": 7984,
                "Symptom": 3929, "Reason": 3408, "Level": 1388, "Amount": 1005, "Treatment": 969, "Duration": 847,
                "Method": 810, "SideEff": 692, "Operation": 582, "Frequency": 409}


@pytest.fixture(scope="module")
def ruijin(real_data: Path):
    folder = real_data / "ruijin_diabetes"
    if not folder.is_dir():
        pytest.skip("no ruijin_diabetes folder in COURSE_REAL_DATA")
    return read_folder(folder)


def test_reader_reproduces_the_readme_counts(ruijin) -> None:
    counts = corpus_counts(ruijin)
    assert counts["documents"] == 327
    assert round(counts["characters"] / 1e6, 2) == 2.87
    assert counts["entities"] == 124_977
    assert counts["per_type"] == README_TYPES
    assert counts["discontinuous"] == 11_268 and counts["gaps"] == 11_280
    assert counts["newline_gaps"] == 11_280  # every gap is one hard line break
    assert counts["problems"] == {"mismatch": 7}


def test_line_break_removal_saves_about_nine_percent(ruijin) -> None:
    kept, lost = EncodeStats(), EncodeStats()
    for doc in ruijin.documents:
        kept.add(encode_document(doc).stats)
        lost.add(encode_document(doc, remove_breaks=False).stats)
    assert lost.discontinuous == 11_268 and 0.085 < lost.discontinuous / lost.total < 0.095
    assert kept.discontinuous == 0 and kept.joined_by_line_break_removal == 11_268
    assert 350 < kept.nested + kept.crossing < 450  # README: about 390 entities overlap another


def test_the_corpus_is_guarded_and_the_split_fits_it(ruijin) -> None:
    assert not ruijin.redistributable
    with pytest.raises(NotRedistributableError):
        show_entities(ruijin.documents[0])
    with pytest.raises(NotRedistributableError):
        list_problems(ruijin)
    split = load_split()
    ids = {d.doc_id for d in ruijin.documents}
    assert set(split["train"]) | set(split["val"]) | set(split["test"]) == ids


def test_what_a_bert_encoder_would_see_as_unk(ruijin) -> None:
    """The chapter's figures for the BERT path: spaces are 11.1 % of the characters and inside 13.5 % of the entities
    (they would all be [UNK] looked up one character at a time); capital Latin letters are 6.7 % (all [UNK] under
    bert-base-chinese's cased tokenizer configuration, whose vocabulary has lower-case letters only)."""
    from course_utils.ie.ner.tagger import CharVocab

    characters = sum(len(d.text) for d in ruijin.documents)
    spaces = sum(d.text.count(" ") for d in ruijin.documents)
    upper = sum(sum(c.isascii() and c.isupper() for c in d.text) for d in ruijin.documents)
    entities = [(d, e) for d in ruijin.documents for e in d.entities]
    with_space = sum(any(" " in d.text[a:b] for a, b in e.spans) for d, e in entities)
    assert (characters, spaces, upper, with_space) == (2_871_047, 318_088, 192_924, 16_928)
    assert round(100 * spaces / characters, 1) == 11.1 and round(100 * with_space / len(entities), 1) == 13.5
    assert round(100 * upper / characters, 1) == 6.7
    # a BERT vocabulary view of the corpus: a space is the reserved token, never [UNK]
    index = {"[PAD]": 0, "[unused1]": 1, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102}
    vocab = CharVocab(index, 0, 100, bert_rules=True, space_id=1, cls_id=101, sep_id=102)
    assert set(vocab.encode(" \t\u3000")) == {1}


def test_no_ruijin_text_in_the_built_site_executed_or_committed_notebooks(ruijin, tmp_path: Path) -> None:
    """Every HTML page and executed notebook under _build/ (when the book was built here) and every committed
    notebook is scanned for any 10-character run of a Ruijin document (review finding 4). Counts only: the
    scanner returns file names and hit counts, never text."""
    from course_utils.ie.brat import leaked_text

    root = Path(__file__).resolve().parents[2]
    files = [p for p in (root / "_build").rglob("*") if p.is_file() and p.suffix in (".html", ".ipynb")]
    files += sorted((root / "notebooks").rglob("*.ipynb"))
    # the scanner itself finds a planted run (written to a temporary file, removed with tmp_path)
    text = "".join(ruijin.documents[0].text.split())
    start = next(i for i in range(len(text) - 14) if sum("\u4e00" <= c <= "\u9fff" for c in text[i:i + 14]) >= 12)
    planted = tmp_path / "planted.html"
    planted.write_text(f"<p>{text[start:start + 7]}<i>{text[start + 7:start + 14]}</i></p>", encoding="utf-8")
    assert set(leaked_text(ruijin, [planted])) == {str(planted)}
    planted.unlink()
    leaks = leaked_text(ruijin, files)
    assert leaks == {}, f"{len(leaks)} built or committed files hold Ruijin text: {sorted(leaks)}"


def test_the_manifest_marks_the_corpus_not_redistributable() -> None:
    from course_utils.data.manifest import load_manifest
    from course_utils.ie.brat import NOT_REDISTRIBUTABLE_NAMES

    manifest = load_manifest("ruijin_diabetes")
    assert manifest.redistributable is False
    assert {"ruijin_diabetes", "ruijin_round1_train2_20181022"} <= NOT_REDISTRIBUTABLE_NAMES
