"""Chapter 13 exercises (BioRED relations): checkers and their solutions.

13.1 the candidate pairs of a document from its mentions' ids (composite mentions included); 13.2 one of the
BioRED paper's three relation metrics (entity pair; + type; + novelty) as a micro-F1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import combinations
from typing import Any

from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = ["candidate_pairs_solution", "check_candidate_pairs", "biored_f1_solution", "check_biored_f1"]


def candidate_pairs_solution(mention_ids: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    """Return every unordered pair of distinct entity ids, smaller id first, sorted: n ids give n(n-1)/2
    (chapter 13)."""
    ids = sorted({i for ids in mention_ids for i in ids})
    return list(combinations(ids, 2))


_PAIR_CASES: list[tuple[list[tuple[str, ...]], str]] = [
    # (ids of each mention in text order, what the case tests)
    ([("672",), ("D001943",), ("D013629",)], "three ids give 3 x 2 / 2 = 3 unordered pairs"),
    ([("672",), ("D001943",), ("672",), ("D001943",)], "an entity mentioned twice is still one id"),
    ([("D013629",), ("D001943", "D010051")], "a composite mention (breast and ovarian cancer) carries two ids"),
    ([("672",), ("672",)], "one id alone has no pair"),
    ([("C1",), ("C2",), ("C3",), ("C4",), ("C5",)], "five ids give 10 pairs"),
]


def _as_pairs(answer: Any) -> list[tuple[str, ...]] | None:
    try:
        pairs = [tuple(p) for p in answer]
    except TypeError:
        return None
    return pairs if all(len(p) == 2 for p in pairs) else None


def check_candidate_pairs(fn: Callable[[Sequence[Sequence[str]]], Iterable[tuple[str, str]]]) -> Feedback:
    """Return feedback on a student's ``candidate_pairs(mention_ids)``."""
    name = "Exercise 13.1 (candidate pairs)"
    for mention_ids, what in _PAIR_CASES:
        answer, early = attempt(name, fn, [tuple(m) for m in mention_ids])
        if early is not None:
            return early
        pairs = _as_pairs(answer)
        if pairs is None:
            return Feedback(name, INCORRECT, f"return a list of (id1, id2) tuples, not {type(answer).__name__}")
        expected = candidate_pairs_solution(mention_ids)
        where = f"For mentions with ids {mention_ids}"
        if any(a == b for a, b in pairs):
            return Feedback(name, INCORRECT, f"{where} you paired an id with itself: a candidate pair is two "
                                             "different entities.")
        unordered = {frozenset(p) for p in pairs}
        if len(pairs) != len(unordered):
            repeated = len(pairs) != len(set(pairs))
            why = ("each pair must appear once: pair ids, not mentions (an entity mentioned twice is one id)"
                   if repeated else "(a, b) and (b, a) are the same candidate: BioRED relations are undirected, so "
                   "each pair is counted once")
            return Feedback(name, INCORRECT, f"{where} you returned {len(pairs)} pairs, {len(unordered)} of them "
                                             f"different; {why}.")
        if unordered != {frozenset(p) for p in expected}:
            missing = sorted(tuple(sorted(p)) for p in {frozenset(p) for p in expected} - unordered)
            hint = what
            if any(len(m) > 1 for m in mention_ids):
                hint = "a composite mention carries several ids, and each id is an entity with its own pairs"
            return Feedback(name, INCORRECT, f"{where} the answer has {len(expected)} pairs, you returned "
                                             f"{len(pairs)}; missing e.g. {missing[:2]} ({hint}).")
        if any(a > b for a, b in pairs):
            return Feedback(name, INCORRECT, f"{where} the pairs are right, but write each with the smaller id first "
                                             "(sorted), as the package's candidate_pairs does.")
    return Feedback(name, CORRECT, "Every unordered pair of distinct ids, composite mentions' ids included: n ids "
                                   "give n(n-1)/2 candidates, most of them with no relation.")


def biored_f1_solution(gold: Sequence[tuple[str, str, str, str, bool]], predicted: Sequence[tuple[str, str, str, str, bool]],
                       level: str) -> float:
    """Return the micro-F1 of ``predicted`` relations ``(doc_id, id1, id2, type, novel)`` against ``gold`` at
    ``level`` ``"pair"`` (document + unordered ids), ``"type"`` (+ relation type) or ``"novelty"`` (+ novelty)
    (chapter 13)."""
    width = {"pair": 3, "type": 4, "novelty": 5}[level]

    def keys(relations: Sequence[tuple[str, str, str, str, bool]]) -> set[tuple]:
        return {(doc, *sorted((a, b)), rel, novel)[:width] for doc, a, b, rel, novel in relations}

    g, p = keys(gold), keys(predicted)
    tp = len(g & p)
    if tp == 0:
        return 0.0
    precision, recall = tp / len(p), tp / len(g)
    return 2 * precision * recall / (precision + recall)


_G = [("1", "672", "D001943", "Association", True), ("1", "D013629", "D001943", "Negative_Correlation", True),
      ("1", "D013629", "2099", "Bind", False), ("2", "2099", "D009369", "Association", False)]
_F1_CASES: list[tuple[list, list, str, float, str]] = [
    # (gold, predicted, level, expected F1, what it tests)
    (_G, list(_G), "novelty", 1.0, "a perfect prediction"),
    (_G[:1], [("1", "D001943", "672", "Association", True)], "novelty", 1.0,
     "the ids in the other order: BioRED relations are undirected, (a, b) and (b, a) are one pair"),
    (_G[:1], [("1", "672", "D001943", "Positive_Correlation", True)], "pair", 1.0,
     "at level 'pair' only the document and the two ids count, not the type"),
    (_G[:1], [("1", "672", "D001943", "Positive_Correlation", True)], "type", 0.0,
     "at level 'type' the relation type must match too"),
    (_G[:1], [("1", "672", "D001943", "Association", False)], "type", 1.0,
     "at level 'type' novelty does not count yet"),
    (_G[:1], [("1", "672", "D001943", "Association", False)], "novelty", 0.0,
     "at level 'novelty' the novelty must match too"),
    (_G[3:], [("1", "2099", "D009369", "Association", False)], "pair", 0.0,
     "a relation belongs to its document: the same pair in another abstract is another relation"),
    (_G, [], "pair", 0.0, "no prediction at all: F1 is 0 (avoid dividing by zero)"),
    (_G, [_G[0], _G[1], ("1", "D013629", "2099", "Positive_Correlation", False)], "type", 4 / 7,
     "precision 2/3 and recall 2/4 give F1 = 2PR/(P+R) = 4/7"),
]


def check_biored_f1(fn: Callable[[Sequence[tuple], Sequence[tuple], str], float]) -> Feedback:
    """Return feedback on a student's ``biored_f1(gold, predicted, level)``."""
    name = "Exercise 13.2 (BioRED relation F1)"
    for gold, predicted, level, expected, what in _F1_CASES:
        answer, early = attempt(name, fn, list(gold), list(predicted), level)
        if early is not None:
            if early.status == INCORRECT:
                return Feedback(name, INCORRECT, f"{early.message} (case: {what}).")
            return early
        try:
            value = float(answer)
        except (TypeError, ValueError):
            return Feedback(name, INCORRECT, f"return a number between 0 and 1, not {type(answer).__name__}")
        if abs(value - expected) > 1e-9:
            tip = what
            if level == "type" and len(gold) == 4 and len(predicted) == 3:
                if abs(value - 2 / 4) < 1e-9:
                    tip = "you returned the recall (2 of 4 gold relations found); F1 combines it with precision"
                elif abs(value - 2 / 3) < 1e-9:
                    tip = "you returned the precision (2 of 3 predictions right); F1 combines it with recall"
            return Feedback(name, INCORRECT, f"At level {level!r} with {len(gold)} gold and {len(predicted)} "
                                             f"predicted relations the F1 is {expected:.4g}, you returned "
                                             f"{value:.4g} ({tip}).")
    return Feedback(name, CORRECT, "A relation counts when its document and unordered id pair match (and its type, "
                                   "and its novelty, at the stricter levels); F1 over all predictions, so invented "
                                   "relations cost precision.")
