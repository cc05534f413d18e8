"""Chapter 8 exercises (counting): checkers and their solutions.

8.1 PPMI with context-distribution smoothing on a dense count matrix; 8.2 Kneser-Ney continuation counts;
8.3 cosine nearest neighbours from a matrix of word vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..text.counting import ppmi
from ..text.ngram import BOS, EOS
from ..text.vectors import WordVectors
from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = [
    "ppmi_solution",
    "ppmi_cases",
    "check_ppmi",
    "continuation_solution",
    "continuation_cases",
    "check_continuation",
    "neighbours_solution",
    "neighbours_cases",
    "check_neighbours",
]


# --- 8.1 PPMI ------------------------------------------------------------------------------------------------


def ppmi_solution(counts: np.ndarray, alpha: float) -> np.ndarray:
    """Solution to exercise 8.1: dense PPMI, contexts (columns) smoothed by ``alpha``; unseen pairs give 0."""
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    p_word = counts.sum(axis=1) / total
    smoothed = counts.sum(axis=0) ** alpha
    p_context = smoothed / smoothed.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log((counts / total) / np.outer(p_word, p_context))
    return np.where(counts > 0, np.maximum(pmi, 0.0), 0.0)


def ppmi_cases() -> list[tuple[np.ndarray, float]]:
    """Return (count matrix, alpha) cases for exercise 8.1 (chapter 8)."""
    rng = np.random.default_rng(8)
    random = rng.poisson(1.5, size=(6, 6)).astype(float)
    random = random + random.T
    random[0, 0] = random[0, 0] or 1.0  # no empty row or column
    known = np.array([[0, 4, 1, 0], [4, 0, 2, 3], [1, 2, 0, 0], [0, 3, 0, 6]], dtype=float)
    return [(known, 1.0), (known, 0.75), (random, 0.75)]


def check_ppmi(fn: Callable[[np.ndarray, float], Any]) -> Feedback:
    """Check exercise 8.1 against the package's sparse PPMI, with hints for common slips."""
    name = "Exercise 8.1, PPMI with smoothing"
    for counts, alpha in ppmi_cases():
        answer, stop = attempt(name, fn, counts.copy(), alpha)
        if stop:
            return stop
        got = np.asarray(answer, dtype=float)
        expected = ppmi(counts, alpha=alpha).toarray().astype(float)
        if got.shape == expected.shape and np.allclose(got, expected, atol=1e-5):
            continue
        return Feedback(name, INCORRECT, _ppmi_hint(got, counts, alpha, expected))
    return Feedback(name, CORRECT, "Equal to course_utils.text.counting.ppmi on every case.")


def _ppmi_hint(got: np.ndarray, counts: np.ndarray, alpha: float, expected: np.ndarray) -> str:
    if got.shape != expected.shape:
        return f"Return one value per (word, context) cell, shape {expected.shape}; got {got.shape}."

    def same(candidate: np.ndarray) -> bool:
        return bool(np.allclose(got, candidate, atol=1e-5, equal_nan=True))

    if alpha != 1.0 and same(ppmi_solution(counts, 1.0)):
        return "The context probabilities are not smoothed: raise the column totals to the power alpha first."
    total = counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.log((counts / total) / np.outer(counts.sum(1) / total, counts.sum(0) ** alpha / (counts.sum(0) ** alpha).sum()))
    if same(np.where(counts > 0, raw, 0.0)):
        return "Negative PMI values must become 0: take max(PMI, 0)."
    if np.isnan(got).any() or np.isinf(got).any():
        return "Cells with a zero count must be 0, not log(0): keep them out of the logarithm."
    if same(ppmi_solution(counts.T, alpha).T):
        return "Rows are words and columns contexts: smooth the column (context) totals, not the row totals."
    return "Compare with max(log(P(w, c) / (P(w) P_alpha(c))), 0), with P_alpha(c) = n_c^alpha / sum n^alpha."


# --- 8.2 continuation counts -----------------------------------------------------------------------------------


def continuation_solution(sentences: Sequence[Sequence[str]]) -> dict[str, int]:
    """Solution to exercise 8.2: N1+(. w), the number of distinct words seen right before ``w``.

    Each sentence is padded with one ``<s>`` in front and one ``</s>`` at the end (a bigram model).
    """
    before: dict[str, set[str]] = {}
    for sentence in sentences:
        padded = [BOS, *sentence, EOS]
        for previous, word in zip(padded, padded[1:]):
            before.setdefault(word, set()).add(previous)
    return {word: len(seen) for word, seen in before.items()}


def continuation_cases() -> list[list[list[str]]]:
    """Return lists of tokenized sentences for exercise 8.2 (chapter 8)."""
    return [
        [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat", "ran"]],
        [["san", "francisco", "is", "foggy"], ["san", "francisco", "is", "far"], ["i", "saw", "san", "francisco"],
         ["glasses", "are", "far"], ["reading", "glasses", "are", "here"], ["my", "glasses"]],
    ]


def check_continuation(fn: Callable[[Sequence[Sequence[str]]], Any]) -> Feedback:
    """Check exercise 8.2: continuation counts of every word (``</s>`` included) on two small corpora."""
    name = "Exercise 8.2, continuation counts"
    for sentences in continuation_cases():
        answer, stop = attempt(name, fn, [list(s) for s in sentences])
        if stop:
            return stop
        expected = continuation_solution(sentences)
        try:
            got = {str(k): int(v) for k, v in dict(answer).items() if int(v) > 0}
        except (TypeError, ValueError):
            return Feedback(name, INCORRECT, "Return a dict word -> number of distinct preceding words.")
        if got == expected:
            continue
        frequency: dict[str, int] = {}
        for s in sentences:
            for w in [*s, EOS]:
                frequency[w] = frequency.get(w, 0) + 1
        if got == frequency or got == {w: c for w, c in frequency.items() if w != EOS}:
            return Feedback(name, INCORRECT, "Those are plain frequencies. Count *distinct* words seen right before each word.")
        if EOS not in got:
            return Feedback(name, INCORRECT, "Include </s>: pad each sentence with <s> in front and </s> at the end.")
        wrong = sorted(w for w in expected if got.get(w) != expected[w])
        return Feedback(name, INCORRECT, f"Wrong for {wrong[:3]}: e.g. {wrong[0]!r} should be {expected[wrong[0]]}.")
    return Feedback(name, CORRECT, "In the second corpus 'francisco' is frequent but follows only 'san': N1+ = 1.")


# --- 8.3 neighbours ---------------------------------------------------------------------------------------------


def neighbours_solution(matrix: np.ndarray, vocab: Sequence[str], word: str, k: int) -> list[str]:
    """Solution to exercise 8.3: the ``k`` words of highest cosine with ``word``, itself left out, best first."""
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    row = list(vocab).index(word)
    scores = unit @ unit[row]
    scores[row] = -np.inf
    return [vocab[i] for i in np.argsort(-scores, kind="stable")[:k]]


def neighbours_cases() -> list[tuple[np.ndarray, tuple[str, ...], str, int]]:
    """Return (matrix, vocabulary, word, k) cases for exercise 8.3; norms differ, so a dot product is wrong."""
    rng = np.random.default_rng(83)
    vocab = tuple(f"w{i}" for i in range(40))
    matrix = rng.normal(size=(40, 6)) * rng.uniform(0.1, 10.0, size=(40, 1))
    return [(matrix, vocab, "w3", 5), (matrix, vocab, "w17", 8)]


def check_neighbours(fn: Callable[[np.ndarray, Sequence[str], str, int], Any]) -> Feedback:
    """Check exercise 8.3 against :meth:`WordVectors.neighbours`."""
    name = "Exercise 8.3, cosine neighbours"
    for matrix, vocab, word, k in neighbours_cases():
        answer, stop = attempt(name, fn, matrix.copy(), vocab, word, k)
        if stop:
            return stop
        got = [w if isinstance(w, str) else w[0] for w in list(answer)]
        expected = [w for w, _ in WordVectors(vocab, matrix, "exercise").neighbours(word, k)]
        if got == expected:
            continue
        dots = matrix @ matrix[vocab.index(word)]
        dots[vocab.index(word)] = -np.inf
        if got == [vocab[i] for i in np.argsort(-dots)[:k]]:
            return Feedback(name, INCORRECT, "That ranks by dot product: divide by both vectors' lengths (cosine).")
        if got and got[0] == word:
            return Feedback(name, INCORRECT, "Leave the word itself out: it is always its own nearest neighbour.")
        if len(got) != k:
            return Feedback(name, INCORRECT, f"Return exactly k = {k} words.")
        return Feedback(name, INCORRECT, "Rank every other word by cosine similarity, highest first.")
    return Feedback(name, CORRECT, "Equal to WordVectors.neighbours.")
