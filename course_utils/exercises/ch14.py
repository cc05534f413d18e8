"""Chapter 14 exercises (entity linking): checkers and their solutions.

14.1 Acc@k under the lenient rule; 14.2 the hard-triplet rule of online mining, on distances given as numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = ["accuracy_at_k_solution", "check_accuracy_at_k", "is_hard_solution", "check_is_hard"]


def accuracy_at_k_solution(ranked: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], k: int) -> float:
    """Return the share of mentions with any gold id among their first ``k`` ranked ids (chapter 14)."""
    return sum(bool(set(r[:k]) & set(g)) for r, g in zip(ranked, gold)) / len(gold)


_ACC_CASES = [
    # (ranked ids, gold ids, k, expected, what it tests)
    ([["A", "B"], ["B", "A"]], [["A"], ["A"]], 1, 0.5, "only the first id counts at k = 1"),
    ([["A", "B"], ["B", "A"]], [["A"], ["A"]], 2, 1.0, "any of the first k ids counts"),
    ([["B", "C", "D", "E", "F", "A"]], [["A"]], 5, 0.0, "the sixth id is outside the top 5"),
    ([["D002972"]], [["D002971", "D002972"]], 1, 1.0, "lenient: any gold id of a composite or alternative list"),
    ([[], ["A"]], [["A"], ["A"]], 1, 0.5, "a mention with no candidate is simply wrong"),
]


def check_accuracy_at_k(fn: Callable[[Sequence[Sequence[str]], Sequence[Sequence[str]], int], float]) -> Feedback:
    """Return feedback on a student's ``accuracy_at_k(ranked, gold, k)``."""
    name = "Exercise 14.1 (Acc@k)"
    for ranked, gold, k, expected, what in _ACC_CASES:
        answer, early = attempt(name, fn, ranked, gold, k)
        if early is not None:
            return early
        try:
            value = float(answer)
        except (TypeError, ValueError):
            return Feedback(name, INCORRECT, f"return a number between 0 and 1, not {type(answer).__name__}")
        if abs(value - expected) > 1e-9:
            return Feedback(name, INCORRECT, f"for ranked={ranked}, gold={gold}, k={k} the answer is {expected}, "
                                             f"you returned {value:g} ({what}).")
    return Feedback(name, CORRECT, "Acc@k counts a mention as linked when any gold id is among its first k ids.")


def is_hard_solution(d_ap: float, d_an: float, margin: float) -> bool:
    """Return True when the triplet violates the margin: the negative is not ``margin`` farther than the
    positive (``d_an - d_ap <= margin``) (chapter 14)."""
    return d_an - d_ap <= margin


_HARD_CASES = [
    (0.3, 1.2, 0.2, False, "the negative is far beyond the positive: an easy triplet, nothing to learn"),
    (0.8, 0.5, 0.2, True, "the negative is nearer than the positive: a hard triplet"),
    (0.5, 0.6, 0.2, True, "the negative is farther, but by less than the margin: still mined"),
    # exactly representable in binary floating point, so d_an - d_ap == margin holds exactly, whichever way a
    # student writes the comparison (0.7 - 0.5 is 0.19999999999999996, which would pass "<" as "<=")
    (0.25, 0.5, 0.25, True, "exactly at the margin: kept (the rule is <=)"),
    (0.1, 0.35, 0.2, False, "farther by 0.25 > 0.2: not mined"),
]


def check_is_hard(fn: Callable[[float, float, float], bool]) -> Feedback:
    """Return feedback on a student's ``is_hard(d_ap, d_an, margin)``."""
    name = "Exercise 14.2 (hard triplets)"
    for d_ap, d_an, margin, expected, what in _HARD_CASES:
        answer, early = attempt(name, fn, d_ap, d_an, margin)
        if early is not None:
            return early
        if bool(answer) != expected:
            return Feedback(name, INCORRECT, f"d(a,p)={d_ap}, d(a,n)={d_an}, margin={margin}: expected "
                                             f"{expected} ({what}).")
    return Feedback(name, CORRECT, "Mining keeps a triplet unless its negative is already margin farther than "
                                   "its positive.")
