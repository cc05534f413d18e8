"""Chapter 12: line-break offset map, BIO policy and round trip, chunking and window merging."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.ie.bio import (
    bio_to_spans,
    chunk_document,
    decode_document,
    encode_document,
    merge_windows,
    spans_to_bio,
    tag_names,
)
from course_utils.ie.brat import BratDocument, Entity
from course_utils.ie.linebreaks import remove_line_breaks, to_clean_spans, to_original_spans
from course_utils.ie.ner.synthetic import synthetic_documents


def test_tag_set_has_31_tags() -> None:
    tags = tag_names()
    assert len(tags) == 31 and tags[0] == "O" and tags[1:3] == ("B-Test", "I-Test")


def test_offset_map_round_trip() -> None:
    text = "ab\ncd\r\nef\n"
    clean, offsets = remove_line_breaks(text)
    assert clean == "abcdef" and offsets.removed == 4
    assert all(text[offsets.clean_to_original[i]] == clean[i] for i in range(len(clean)))
    # a wrapped entity becomes one span, and comes back as the two annotated fragments
    assert to_clean_spans(((1, 2), (3, 4)), offsets) == ((1, 3),)
    assert to_original_spans([(1, 3)], offsets) == ((1, 2), (3, 4))
    assert to_original_spans([(1, 5)], offsets) == ((1, 2), (3, 5), (7, 8))
    # a true gap (over kept characters) stays two fragments
    assert to_clean_spans(((0, 1), (3, 4)), offsets) == ((0, 1), (2, 3))
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = int(rng.integers(0, 5))
        b = int(rng.integers(a + 1, 7))
        assert to_clean_spans(to_original_spans([(a, b)], offsets), offsets) == ((a, b),)


def test_bio_round_trip_and_stray_inside_tag() -> None:
    spans = [(0, 2, "Drug"), (2, 3, "Amount"), (5, 9, "Disease")]
    tags = spans_to_bio(10, spans)
    assert tags[:4] == ["B-Drug", "I-Drug", "B-Amount", "O"]
    assert bio_to_spans(tags) == spans
    assert bio_to_spans(["O", "I-Test", "I-Test", "B-Test", "I-Drug"]) == [(1, 3, "Test"), (3, 4, "Test"),
                                                                          (4, 5, "Drug")]


def test_policy_keeps_longest_and_counts_conflicts() -> None:
    text = "糖尿病性视网\n膜病变，左、右下肢"
    ents = (Entity("T1", "Disease", ((0, 6), (7, 10))), Entity("T2", "Anatomy", ((4, 6), (7, 8))),
            Entity("T3", "Symptom", ((9, 12),)),                        # crosses T1
            Entity("T4", "Anatomy", ((11, 12), (14, 16))),              # true discontinuity
            Entity("T5", "Anatomy", ((13, 16),)))
    enc = encode_document(BratDocument("d", text, ents))
    assert enc.text == text.replace("\n", "")
    assert (enc.stats.kept, enc.stats.nested, enc.stats.crossing, enc.stats.discontinuous) == (2, 1, 1, 1)
    assert enc.stats.joined_by_line_break_removal == 2
    assert enc.spans == [(0, 9, "Disease"), (12, 15, "Anatomy")]
    decoded = decode_document(enc.tags, enc.offsets)
    assert [(e.type, e.spans) for e in decoded] == [("Disease", ((0, 6), (7, 10))), ("Anatomy", ((13, 16),))]
    lost = encode_document(BratDocument("d", text, ents), remove_breaks=False).stats
    assert lost.discontinuous == 3  # without line-break removal the wrapped entities are lost too


def test_round_trip_exact_for_every_kept_entity_on_synthetic_documents() -> None:
    for doc in synthetic_documents(15, seed=5):
        enc = encode_document(BratDocument(doc.doc_id, doc.text, doc.entities))
        decoded = {(e.type, e.spans) for e in decode_document(enc.tags, enc.offsets)}
        kept = {(t, to_original_spans([(a, b)], enc.offsets)) for a, b, t in enc.spans}
        original = {(e.type, e.spans) for e in doc.entities}
        assert decoded == kept and kept <= original
        assert enc.stats.total == len(doc.entities)


def test_chunks_cut_at_punctuation_respect_max_length_and_protected_spans() -> None:
    text = "甲乙丙。丁戊己庚。辛壬癸子丑寅卯辰巳午未申酉戌亥。"
    chunks = chunk_document(text, max_length=8, stride=2)
    assert [(c.start, c.end) for c in chunks] == [(0, 4), (4, 9), (9, 17), (15, 23), (21, 25)]
    assert all(c.end - c.start <= 8 for c in chunks)
    protected = chunk_document(text, max_length=10, stride=2, protected=[(2, 6, "Drug")])
    assert (protected[0].start, protected[0].end) == (0, 9)  # no cut after the first 。 (inside the span)
    with pytest.raises(ValueError):
        chunk_document(text, max_length=4, stride=4)


def test_merge_windows_prefers_the_window_where_a_character_is_central() -> None:
    windows = [(0, 6, ["O", "O", "O", "O", "B-Test", "I-Test"]), (4, 10, ["X"] * 6)]
    merged = merge_windows(10, windows)
    assert merged[:4] == ["O"] * 4 and merged[6:] == ["X"] * 4
    assert merged[4] == "B-Test" and merged[5] == "X"  # depth 1 beats 0 on both sides
