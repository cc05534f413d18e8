"""Chapter 9 exercises (skip-gram with negative sampling): checkers and their solutions.

9.1 the gradient of the SGNS loss with respect to the target's input vector, written by hand; 9.2 word2vec's
probability of keeping an occurrence of a frequent word (subsampling).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..text.sgns import keep_probabilities, sgns_gradients
from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = [
    "gradient_cases",
    "target_gradient_solution",
    "check_target_gradient",
    "keep_cases",
    "keep_probability_solution",
    "check_keep_probability",
]


# --- 9.1 the gradient with respect to v_t ---------------------------------------------------------------------


def target_gradient_solution(v: torch.Tensor, u_c: torch.Tensor, u_n: torch.Tensor) -> torch.Tensor:
    """Solution to exercise 9.1: dL/dv_t = (s(u_c.v_t) - 1) u_c + sum_n s(u_n.v_t) u_n, shape (B, d)."""
    g_c = torch.sigmoid((u_c * v).sum(-1)) - 1  # (B,)
    g_n = torch.sigmoid(torch.bmm(u_n, v.unsqueeze(2)).squeeze(2))  # (B, k)
    return g_c.unsqueeze(1) * u_c + (g_n.unsqueeze(2) * u_n).sum(1)


def gradient_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Return (v_t (B, d), u_c (B, d), u_n (B, k, d)) float64 test cases for exercise 9.1 (chapter 9)."""
    gen = torch.Generator().manual_seed(9)
    cases = []
    for batch, dim, k in [(1, 3, 1), (6, 5, 4), (16, 8, 10)]:
        cases.append((torch.randn(batch, dim, generator=gen, dtype=torch.float64),
                      torch.randn(batch, dim, generator=gen, dtype=torch.float64),
                      torch.randn(batch, k, dim, generator=gen, dtype=torch.float64)))
    return cases


def check_target_gradient(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]) -> Feedback:
    """Check exercise 9.1 against the course's gradient (itself checked equal to autograd's), with hints."""
    name = "Exercise 9.1, the gradient with respect to the target vector"
    for v, u_c, u_n in gradient_cases():
        answer, stop = attempt(name, fn, v.clone(), u_c.clone(), u_n.clone())
        if stop:
            return stop
        try:
            got = torch.as_tensor(answer, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            return Feedback(name, INCORRECT, f"Return a tensor of shape {tuple(v.shape)}; got {type(answer).__name__}.")
        expected = sgns_gradients(v, u_c, u_n)[0]
        if got.shape == expected.shape and torch.allclose(got, expected, atol=1e-8):
            continue
        return Feedback(name, INCORRECT, _gradient_hint(got, v, u_c, u_n, expected))
    return Feedback(name, CORRECT, "Equal to the hand-derived gradient the course trains with, and to autograd's.")


def _gradient_hint(got: torch.Tensor, v: torch.Tensor, u_c: torch.Tensor, u_n: torch.Tensor,
                   expected: torch.Tensor) -> str:
    positive = torch.sigmoid((u_c * v).sum(-1)).unsqueeze(1)
    negative = torch.sigmoid(torch.bmm(u_n, v.unsqueeze(2)).squeeze(2)).unsqueeze(2)
    pos_term = (positive - 1) * u_c
    neg_term = (negative * u_n).sum(1)

    def same(candidate: torch.Tensor) -> bool:
        return got.shape == candidate.shape and bool(torch.allclose(got, candidate, atol=1e-8))

    if got.shape != expected.shape:
        return f"Expected one gradient row per pair, shape {tuple(expected.shape)}; got {tuple(got.shape)}."
    if same(-expected):
        return "The sign is flipped: that is the direction that *lowers* the loss, -dL/dv_t. Return dL/dv_t itself."
    if same(-pos_term + neg_term) or same((1 - positive) * u_c + neg_term):
        return ("The sign of the context term is flipped: d/dx of -log s(x) is s(x) - 1, which is negative, "
                "so the context term is (s(u_c.v_t) - 1) u_c.")
    if same(pos_term):
        return "The negatives are left out: each of the k negatives adds s(u_n.v_t) u_n."
    if same(pos_term + ((1 - negative) * u_n).sum(1)) or same(pos_term - ((1 - negative) * u_n).sum(1)):
        return ("The negative samples' coefficient is wrong: d/dx of -log s(-x) is s(x), so each negative adds "
                "s(u_n.v_t) u_n, not s(-u_n.v_t) u_n.")
    if same(pos_term + (negative * u_n).mean(1)):
        return "The negatives are averaged: the loss sums over the k negatives, so their terms add up."
    return "Compare with (s(u_c.v_t) - 1) u_c + sum over negatives of s(u_n.v_t) u_n, s the logistic sigmoid."


# --- 9.2 subsampling --------------------------------------------------------------------------------------------


def keep_probability_solution(counts: np.ndarray, sample: float) -> np.ndarray:
    """Solution to exercise 9.2: word2vec's keep probability min(1, (sqrt(f/t) + 1) t/f), t = sample * total."""
    counts = np.asarray(counts, dtype=np.float64)
    t = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / t) + 1) * t / counts)


def keep_cases() -> list[tuple[np.ndarray, float]]:
    """Return (counts, sample) test cases for exercise 9.2 (chapter 9): Zipf-like counts, two thresholds."""
    zipf = np.round(100_000 / np.arange(1, 201)).astype(np.int64)
    return [(zipf, 1e-3), (zipf, 1e-4), (np.array([5000, 50, 5]), 1e-2)]


def check_keep_probability(fn: Callable[[np.ndarray, float], Any]) -> Feedback:
    """Check exercise 9.2 against the course's (and gensim's) keep probabilities, with hints for common slips."""
    name = "Exercise 9.2, the probability of keeping a frequent word"
    for counts, sample in keep_cases():
        answer, stop = attempt(name, fn, counts.copy(), sample)
        if stop:
            return stop
        got = np.asarray(answer, dtype=np.float64)
        expected = keep_probabilities(counts, sample)
        if got.shape == expected.shape and np.allclose(got, expected, atol=1e-9):
            continue
        return Feedback(name, INCORRECT, _keep_hint(got, counts, sample, expected))
    return Feedback(name, CORRECT, "Equal to word2vec's and gensim's keep probabilities.")


def _keep_hint(got: np.ndarray, counts: np.ndarray, sample: float, expected: np.ndarray) -> str:
    f = counts.astype(np.float64)
    t = sample * f.sum()

    def same(candidate: np.ndarray) -> bool:
        return got.shape == candidate.shape and bool(np.allclose(got, candidate, atol=1e-9))

    if got.shape != expected.shape:
        return f"Expected one probability per word, shape {expected.shape}; got {got.shape}."
    if same(1 - expected):
        return "That is the probability to discard an occurrence; return the probability to keep it."
    if same((np.sqrt(f / t) + 1) * t / f):
        return "Rare words get values above 1: a probability is at most 1, so cap it with np.minimum(1, ...)."
    if same(np.minimum(1, np.sqrt(t / f))) or same(1 - np.sqrt(t / f)) or same(np.maximum(0, 1 - np.sqrt(t / f))):
        return ("That is the word2vec paper's formula (discard with 1 - sqrt(t/f)); the released word2vec code, and "
                "gensim, keep with (sqrt(f/t) + 1) t/f, t = sample times the total count. Use the code's.")
    if same(np.minimum(1, (np.sqrt(f / sample) + 1) * sample / f)):
        return "The threshold t is sample times the total number of tokens, not sample itself."
    return "Compare with min(1, (sqrt(f / t) + 1) * t / f) where t = sample * counts.sum()."
