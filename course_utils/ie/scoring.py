"""Entity scoring: exact span + type P/R/F1 per type, micro and macro, error classes (chapters 12-13).

Generic: a :class:`Mention` is a document id, a type and one or more ``(start, end)`` fragments in the
original text, so discontinuous entities are scored as they were annotated. A prediction is correct only
when document, type and every fragment match a gold mention exactly. Errors are split into four classes:

* ``wrong_type``: same fragments as a gold mention, other type;
* ``wrong_boundary``: overlaps a gold mention (of any type) without the same fragments;
* ``spurious``: overlaps no gold mention;
* ``missed``: a gold mention that no prediction overlaps.

Token-level helpers (:func:`token_accuracy`, :func:`seqeval_table`) sit beside them to show why per-token
accuracy misleads when most characters are ``O``.
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Mention",
    "TypeScore",
    "SpanScores",
    "score_mentions",
    "error_classes",
    "token_accuracy",
    "seqeval_table",
    "scores_table",
]


@dataclass(frozen=True)
class Mention:
    """An entity to score: document id, type, fragments ``((start, end), ...)`` (chapters 12-13)."""

    doc_id: str
    type: str
    spans: tuple[tuple[int, int], ...]

    def chars(self) -> set[int]:
        """Return the set of character offsets the mention covers (chapters 12-13)."""
        return {i for a, b in self.spans for i in range(a, b)}


@dataclass(frozen=True)
class TypeScore:
    """Counts and scores of one type (or of micro): true/false positives, false negatives, P, R, F1."""

    tp: int
    fp: int
    fn: int

    @property
    def support(self) -> int:
        """Return the number of gold mentions (chapters 12-13)."""
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        """Return TP / (TP + FP), 0 when nothing was predicted (chapters 12-13)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """Return TP / (TP + FN), 0 when there is no gold mention (chapters 12-13)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """Return the harmonic mean of precision and recall (chapters 12-13)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class SpanScores:
    """Per-type scores, micro (pooled counts) and macro (mean of per-type F1 over gold types)."""

    per_type: dict[str, TypeScore]
    micro: TypeScore

    @property
    def macro_f1(self) -> float:
        """Return the unweighted mean F1 over types with gold support (chapters 12-13)."""
        types = [s for s in self.per_type.values() if s.support]
        return sum(s.f1 for s in types) / len(types) if types else 0.0

    @property
    def micro_f1(self) -> float:
        """Return the F1 of the pooled counts (chapters 12-13)."""
        return self.micro.f1


def score_mentions(gold: Iterable[Mention], predicted: Iterable[Mention]) -> SpanScores:
    """Return exact span + type scores of ``predicted`` against ``gold`` (duplicates counted once)."""
    gold_set, pred_set = set(gold), set(predicted)
    types = sorted({m.type for m in gold_set | pred_set})
    counts = {t: [0, 0, 0] for t in types}
    for m in pred_set:
        counts[m.type][0 if m in gold_set else 1] += 1
    for m in gold_set - pred_set:
        counts[m.type][2] += 1
    per_type = {t: TypeScore(*c) for t, c in counts.items()}
    micro = TypeScore(*(sum(c[i] for c in counts.values()) for i in range(3)))
    return SpanScores(per_type, micro)


def error_classes(gold: Iterable[Mention], predicted: Iterable[Mention]) -> dict[str, int]:
    """Return counts of ``correct``, ``wrong_type``, ``wrong_boundary``, ``spurious`` and ``missed``."""
    gold_set, pred_set = set(gold), set(predicted)
    by_doc: dict[str, list[tuple[Mention, set[int]]]] = defaultdict(list)
    for m in gold_set:
        by_doc[m.doc_id].append((m, m.chars()))
    spans_of = {(m.doc_id, m.spans) for m in gold_set}
    counts: Counter[str] = Counter(correct=0, wrong_type=0, wrong_boundary=0, spurious=0, missed=0)
    touched: set[Mention] = set()
    for m in pred_set:
        chars = m.chars()
        overlapping = [g for g, gc in by_doc.get(m.doc_id, []) if gc & chars]
        touched.update(overlapping)
        if m in gold_set:
            counts["correct"] += 1
        elif (m.doc_id, m.spans) in spans_of:
            counts["wrong_type"] += 1
        elif overlapping:
            counts["wrong_boundary"] += 1
        else:
            counts["spurious"] += 1
    counts["missed"] = len(gold_set - touched)
    return dict(counts)


def token_accuracy(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> float:
    """Return the share of positions whose tag is right, ``O`` included (chapters 12-13)."""
    total = sum(len(t) for t in true_tags)
    right = sum(a == b for t, p in zip(true_tags, pred_tags, strict=True) for a, b in zip(t, p, strict=True))
    return right / total if total else 0.0


def seqeval_table(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]], *,
                  strict: bool = False) -> "object":
    """Return seqeval's per-type report as a pandas DataFrame (precision, recall, f1, support; chapters 12-13).

    ``strict=False`` is seqeval's default (conlleval) mode, where an ``I-X`` after ``O`` or another type opens an
    entity; ``strict=True`` is ``mode="strict"`` with the IOB2 scheme, where such a stray ``I-X`` is wrong.
    """
    import pandas as pd
    from seqeval.metrics import classification_report

    options: dict[str, Any] = {}
    if strict:
        from seqeval.scheme import IOB2

        options = {"mode": "strict", "scheme": IOB2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns about types absent from predictions
        report = classification_report([list(t) for t in true_tags], [list(p) for p in pred_tags],
                                       output_dict=True, zero_division=0, **options)
    frame = pd.DataFrame(report).T
    frame["support"] = frame["support"].astype(int)
    return frame.rename(columns={"f1-score": "f1"})


def scores_table(scores: SpanScores, order: Sequence[str] | None = None) -> "object":
    """Return per-type rows plus micro and macro as a pandas DataFrame (chapters 12-13)."""
    import pandas as pd

    names = [t for t in (order or sorted(scores.per_type)) if t in scores.per_type]
    rows = {t: scores.per_type[t] for t in names}
    frame = pd.DataFrame({t: {"precision": s.precision, "recall": s.recall, "f1": s.f1, "support": s.support}
                          for t, s in rows.items()}).T
    frame.loc["micro"] = [scores.micro.precision, scores.micro.recall, scores.micro.f1, scores.micro.support]
    frame.loc["macro"] = [float("nan"), float("nan"), scores.macro_f1, scores.micro.support]
    frame["support"] = frame["support"].astype(int)
    return frame
