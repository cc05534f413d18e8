"""Chapter 12 exercises (Chinese medical NER): checkers and their solutions.

12.1 the CRF forward algorithm (log partition) of one sequence; 12.2 BIO tags back to spans; 12.3 exact span
micro-F1. Every example the checkers use is synthetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..ie.bio import bio_to_spans
from ..ie.crf import brute_force, log_partition
from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = [
    "log_partition_solution",
    "check_log_partition",
    "bio_spans_solution",
    "check_bio_spans",
    "span_f1_solution",
    "check_span_f1",
]

# --- 12.1 forward algorithm ------------------------------------------------------------------------------------


def log_partition_solution(emissions: torch.Tensor, start: torch.Tensor, end: torch.Tensor,
                           transitions: torch.Tensor) -> float:
    """Solution to exercise 12.1: log Z of one sequence ``(length, tags)`` by the forward algorithm."""
    alpha = start + emissions[0]
    for t in range(1, emissions.shape[0]):
        alpha = torch.logsumexp(alpha.unsqueeze(1) + transitions, dim=0) + emissions[t]
    return float(torch.logsumexp(alpha + end, dim=0))


def _crf_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(12)
    cases = []
    for length, k in ((4, 3), (6, 4), (1, 5)):
        cases.append(tuple(torch.randn(*shape, generator=gen, dtype=torch.float64)
                           for shape in ((length, k), (k,), (k,), (k, k))))
    return cases  # type: ignore[return-value]


def check_log_partition(fn: Callable[..., Any]) -> Feedback:
    """Check exercise 12.1 against brute force over every path and the course's forward algorithm."""
    name = "Exercise 12.1, the forward algorithm"
    for emissions, start, end, transitions in _crf_cases():
        answer, stop = attempt(name, fn, emissions.clone(), start.clone(), end.clone(), transitions.clone())
        if stop:
            return stop
        try:
            got = float(answer)
        except (TypeError, ValueError):
            return Feedback(name, INCORRECT, f"return one number (a float), not {type(answer).__name__}")
        expected, _ = brute_force(emissions, start, end, transitions)
        if math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-6):
            continue
        return Feedback(name, INCORRECT, _forward_hint(got, emissions, start, end, transitions, expected))
    return Feedback(name, CORRECT, "Equal to the log-sum over all tag paths, computed in length x tags^2 steps.")


def _forward_hint(got: float, emissions: torch.Tensor, start: torch.Tensor, end: torch.Tensor,
                  transitions: torch.Tensor, expected: float) -> str:
    def close(value: float) -> bool:
        return math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-6)

    best = start + emissions[0]
    for t in range(1, emissions.shape[0]):
        best = (best.unsqueeze(1) + transitions).max(dim=0).values + emissions[t]
    if close(float((best + end).max())):
        return "That is the score of the single best path (Viterbi): replace max by logsumexp."
    if close(float(log_partition(emissions[None], None, torch.zeros_like(start), torch.zeros_like(end),
                                 transitions)[0])):
        return "The start and end scores are missing: add start to the first step and end before the last sum."
    if close(float(log_partition(emissions[None], None, start, torch.zeros_like(end), transitions)[0])):
        return "The end scores are missing: add `end` before the final logsumexp."
    if close(float(log_partition(emissions[None], None, start, end, transitions.t())[0])):
        return "transitions[i, j] is the score of moving FROM tag i TO tag j: sum over the first axis."
    return f"Expected log Z = {expected:.4f}; check the recursion alpha_j = logsumexp_i(alpha_i + T[i, j]) + e_j."


# --- 12.2 BIO to spans ---------------------------------------------------------------------------------------


def bio_spans_solution(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Solution to exercise 12.2: ``(start, end, type)`` spans; a stray ``I-X`` opens an entity."""
    spans: list[tuple[int, int, str]] = []
    start, kind = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, this = tag.partition("-")
        if start >= 0 and not (prefix == "I" and this == kind):
            spans.append((start, i, kind))
            start = -1
        if prefix == "B" or (prefix == "I" and start < 0):
            start, kind = i, this
    return spans


_BIO_CASES: list[list[str]] = [
    ["B-Drug", "I-Drug", "O", "B-Amount", "O"],
    ["B-Test", "I-Test", "B-Test_Value", "I-Test_Value", "I-Test_Value"],
    ["O", "I-Disease", "I-Disease", "O"],
    ["B-Disease", "I-Disease", "I-Anatomy", "O"],
    ["B-Level", "B-Level", "I-Level"],
    ["O", "O"],
    ["B-Drug", "I-Drug"],
]


def check_bio_spans(fn: Callable[..., Any]) -> Feedback:
    """Check exercise 12.2 on hand-made tag sequences (entities at the end, stray I-, type switches)."""
    name = "Exercise 12.2, BIO tags back to spans"
    for tags in _BIO_CASES:
        answer, stop = attempt(name, fn, list(tags))
        if stop:
            return stop
        expected = bio_to_spans(tags)
        got = [tuple(s) for s in answer]
        if got == expected:
            continue
        if got == expected[:-1] and tags[-1] != "O":
            return Feedback(name, INCORRECT, f"{tags}: the entity that runs to the last tag is lost; close it "
                                             "after the loop (or append an 'O').")
        if any(e[1] == e[0] + 1 and e in expected for e in expected) and len(got) < len(expected):
            return Feedback(name, INCORRECT, f"{tags}: expected {expected}; a stray I- (after O or another type) "
                                             "opens a new entity, as seqeval does.")
        if all(len(s) == 3 and s[1] == e[1] - 1 for s, e in zip(got, expected, strict=False)):
            return Feedback(name, INCORRECT, "End offsets are exclusive: end = index of the last tag + 1.")
        return Feedback(name, INCORRECT, f"{tags}: expected {expected}, got {got}.")
    return Feedback(name, CORRECT, "Spans agree with the course's decoder, stray I- tags included.")


# --- 12.3 span F1 ----------------------------------------------------------------------------------------------


def span_f1_solution(gold: set[tuple[int, int, str]], pred: set[tuple[int, int, str]]) -> float:
    """Solution to exercise 12.3: exact span + type micro-F1 of two sets of ``(start, end, type)``."""
    tp = len(gold & pred)
    if not tp:
        return 0.0
    precision, recall = tp / len(pred), tp / len(gold)
    return 2 * precision * recall / (precision + recall)


_F1_CASES = [
    ({(0, 2, "Drug"), (5, 9, "Disease"), (10, 12, "Test")}, {(0, 2, "Drug"), (5, 8, "Disease"), (10, 12, "Drug")}),
    ({(0, 2, "Drug")}, {(0, 2, "Drug")}),
    ({(0, 2, "Drug"), (3, 4, "Level")}, set()),
    ({(0, 4, "Disease"), (6, 8, "Anatomy")}, {(0, 4, "Disease"), (6, 8, "Anatomy"), (9, 10, "Level"), (11, 12, "Amount")}),
]


def check_span_f1(fn: Callable[..., Any]) -> Feedback:
    """Check exercise 12.3 on hand-made gold and predicted span sets (wrong type, wrong boundary, empty)."""
    name = "Exercise 12.3, exact span micro-F1"
    for gold, pred in _F1_CASES:
        answer, stop = attempt(name, fn, set(gold), set(pred))
        if stop:
            return stop
        expected = span_f1_solution(gold, pred)
        try:
            got = float(answer)
        except (TypeError, ValueError):
            return Feedback(name, INCORRECT, "return one number between 0 and 1")
        if math.isclose(got, expected, abs_tol=1e-9):
            continue
        loose = {(a, b) for a, b, _ in gold} & {(a, b) for a, b, _ in pred}
        if pred and math.isclose(got, 2 * len(loose) / (len(gold) + len(pred)), abs_tol=1e-9):
            return Feedback(name, INCORRECT, "A span with the right offsets but the wrong type counts as an error: "
                                             "compare (start, end, type) triples.")
        if pred and math.isclose(got, len(gold & pred) / len(pred), abs_tol=1e-9):
            return Feedback(name, INCORRECT, "That is the precision; F1 is 2PR / (P + R).")
        if not pred:
            return Feedback(name, INCORRECT, "With no prediction, F1 is 0 (guard the division).")
        return Feedback(name, INCORRECT, f"expected {expected:.4f}, got {got:.4f}")
    return Feedback(name, CORRECT, "Exact span + type F1: a boundary or type error costs both precision and recall.")
