"""Chapter 12 (and 13): the span scorer, error classes and token accuracy on a hand-made example."""

from __future__ import annotations

import math

import pytest

from course_utils.ie.scoring import (
    Mention,
    error_classes,
    score_mentions,
    scores_table,
    seqeval_table,
    token_accuracy,
)

GOLD = [Mention("d1", "Drug", ((0, 4),)), Mention("d1", "Disease", ((10, 14), (15, 17))),
        Mention("d1", "Test", ((20, 24),)), Mention("d2", "Drug", ((3, 6),)), Mention("d2", "Test", ((8, 9),))]
PRED = [Mention("d1", "Drug", ((0, 4),)),                 # correct
        Mention("d1", "Disease", ((10, 14), (15, 17))),   # correct (discontinuous, exact)
        Mention("d1", "Drug", ((20, 24),)),               # wrong type
        Mention("d2", "Drug", ((3, 5),)),                 # wrong boundary
        Mention("d2", "Anatomy", ((30, 32),))]            # spurious; d2 Test is missed


def test_exact_span_scores_per_type_micro_and_macro() -> None:
    s = score_mentions(GOLD, PRED)
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (2, 3, 3)
    assert s.micro_f1 == pytest.approx(0.4)
    assert (s.per_type["Drug"].tp, s.per_type["Drug"].fp, s.per_type["Drug"].fn) == (1, 2, 1)
    assert s.per_type["Drug"].f1 == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
    assert s.per_type["Disease"].f1 == 1.0 and s.per_type["Test"].f1 == 0.0
    # macro over gold types only (Anatomy has no gold support): (0.4 + 1 + 0) / 3
    assert s.macro_f1 == pytest.approx((0.4 + 1.0 + 0.0) / 3)
    table = scores_table(s, ["Drug", "Disease", "Test", "Anatomy"])
    assert list(table.index) == ["Drug", "Disease", "Test", "Anatomy", "micro", "macro"]
    assert table.loc["micro", "support"] == 5 and math.isnan(table.loc["macro", "precision"])


def test_error_classes() -> None:
    assert error_classes(GOLD, PRED) == {"correct": 2, "wrong_type": 1, "wrong_boundary": 1, "spurious": 1,
                                         "missed": 1}


def test_token_accuracy_misleads_where_seqeval_does_not() -> None:
    true = [["O"] * 18 + ["B-Drug", "I-Drug"]]
    pred = [["O"] * 20]
    assert token_accuracy(true, pred) == 0.9
    table = seqeval_table(true, pred)
    assert table.loc["Drug", "f1"] == 0.0 and table.loc["Drug", "support"] == 1


def test_seqeval_strict_mode_counts_a_stray_inside_tag_wrong() -> None:
    gold = [["O", "B-Drug", "I-Drug", "O"]]
    pred = [["O", "I-Drug", "I-Drug", "O"]]
    assert seqeval_table(gold, pred).loc["Drug", "f1"] == 1.0  # default (conlleval): I-Drug opens the entity
    assert seqeval_table(gold, pred, strict=True).loc["Drug", "f1"] == 0.0
