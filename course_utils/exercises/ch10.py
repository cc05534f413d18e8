"""Chapter 10 exercises (masked-language modelling, LoRA, contextual vectors): checkers and their solutions.

10.1 masked-token perplexity from logits and labels; 10.2 the number of parameters LoRA trains in a BERT encoder;
10.3 mean cosine within a word sense and across senses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..text.mlm import masked_nll, within_across
from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = [
    "perplexity_solution",
    "perplexity_cases",
    "check_perplexity",
    "lora_count_solution",
    "check_lora_count",
    "within_across_solution",
    "check_within_across",
]


# --- 10.1 perplexity -----------------------------------------------------------------------------------------


def perplexity_solution(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Solution to exercise 10.1: exp of the mean negative log-likelihood over the masked positions (label != -100)."""
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    masked = labels != -100
    nll = -log_probs[masked].gather(-1, labels[masked].unsqueeze(-1)).squeeze(-1)
    return float(torch.exp(nll.mean()))


def perplexity_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Return (logits [batch, length, vocabulary], labels [batch, length]) cases for exercise 10.1 (chapter 10).

    Labels are -100 except at masked positions; the rows hold different numbers of masked tokens, so averaging
    per row first gives a different answer from averaging per token.
    """
    gen = torch.Generator().manual_seed(10)
    cases = []
    for batch, length, vocab in [(3, 12, 20), (2, 9, 7)]:
        logits = 2 * torch.randn(batch, length, vocab, generator=gen)
        labels = torch.full((batch, length), -100, dtype=torch.long)
        for row in range(batch):
            n = 1 + 3 * row  # 1, 4, 7 masked tokens
            where = torch.randperm(length, generator=gen)[:n]
            labels[row, where] = torch.randint(0, vocab, (n,), generator=gen)
        cases.append((logits, labels))
    return cases


def check_perplexity(fn: Callable[[torch.Tensor, torch.Tensor], Any]) -> Feedback:
    """Check exercise 10.1 against the course's masked perplexity, with hints for common slips."""
    name = "Exercise 10.1, masked-token perplexity"
    for logits, labels in perplexity_cases():
        answer, stop = attempt(name, fn, logits.clone(), labels.clone())
        if stop:
            return stop
        try:
            got = float(answer)
        except (TypeError, ValueError):
            return Feedback(name, INCORRECT, f"Return one number (a float), not {type(answer).__name__}.")
        total, count = masked_nll(logits, labels)
        expected = math.exp(total / count)
        if math.isclose(got, expected, rel_tol=1e-4):
            continue
        return Feedback(name, INCORRECT, _perplexity_hint(got, logits, labels, expected))
    return Feedback(name, CORRECT, "exp(mean NLL over the masked tokens), equal to the course's masked_perplexity.")


def _perplexity_hint(got: float, logits: torch.Tensor, labels: torch.Tensor, expected: float) -> str:
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    masked = labels != -100
    nll = -log_probs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    per_row = torch.stack([nll[r][masked[r]].mean() for r in range(len(labels))])

    def close(value: float) -> bool:
        return math.isclose(got, float(value), rel_tol=1e-4)

    if close(math.log(expected)):
        return "That is the mean negative log-likelihood; perplexity is its exponential."
    if close(2 ** math.log(expected)) or close(10 ** math.log(expected)):
        return "Use the natural logarithm and exp throughout (or log2 and 2**): do not mix bases."
    if close(torch.exp(nll[masked]).mean()):
        return "You averaged per-token perplexities: take exp of the mean NLL, not the mean of exp(NLL)."
    if close(torch.exp(per_row.mean())):
        return ("You averaged each sequence first, then the sequences: every masked token should weigh the same, "
                "whatever row it sits in. Average over all masked tokens at once.")
    if close(torch.exp(nll.mean())):
        return "You averaged over every position; only positions whose label is not -100 were masked and count."
    return f"Expected {expected:.4f}, got {got:.4f}. Perplexity = exp(mean over masked tokens of -log p(true token))."


# --- 10.2 LoRA parameter count -------------------------------------------------------------------------------


def lora_count_solution(hidden: int, layers: int, rank: int) -> int:
    """Solution to exercise 10.2: LoRA on query and value of every layer trains A (rank x hidden) and B (hidden x rank)."""
    return layers * 2 * (rank * hidden + hidden * rank)


def _peft_lora_count(hidden: int, layers: int, rank: int) -> int:
    from peft import LoraConfig, get_peft_model
    from transformers import BertConfig, BertModel

    from ..text.mlm import quiet_training, trainable_parameters

    config = BertConfig(vocab_size=50, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=16)
    with quiet_training():
        model = get_peft_model(BertModel(config), LoraConfig(r=rank, lora_alpha=rank, target_modules=["query", "value"]))
    return trainable_parameters(model)[0]


def check_lora_count(fn: Callable[[int, int, int], Any]) -> Feedback:
    """Check exercise 10.2 against the count peft reports on real BERT encoders of those sizes."""
    name = "Exercise 10.2, parameters LoRA trains"
    for hidden, layers, rank in [(32, 3, 4), (48, 2, 2), (64, 1, 8)]:
        answer, stop = attempt(name, fn, hidden, layers, rank)
        if stop:
            return stop
        expected = _peft_lora_count(hidden, layers, rank)
        if answer == expected:
            continue
        hints = {
            layers * 2 * rank * hidden: ("Half the answer: each adapted projection has two matrices, A (rank x in) and "
                                         "B (out x rank), and each layer has two adapted projections, query and value."),
            layers * 2 * rank * rank: "A and B are rank x hidden and hidden x rank, not rank x rank.",
            layers * 2 * hidden * hidden: "That is the size of the frozen weights W; LoRA trains B A of rank r instead.",
            2 * (rank * hidden + hidden * rank): "Count every layer of the encoder, not one.",
        }
        return Feedback(name, INCORRECT, hints.get(int(answer) if isinstance(answer, (int, np.integer)) else -1,
                                                   f"For hidden={hidden}, layers={layers}, rank={rank} peft trains "
                                                   f"{expected} parameters; you said {answer}."))
    return Feedback(name, CORRECT, "layers x 2 projections x (r x d + d x r): what peft reports.")


# --- 10.3 within and across senses ------------------------------------------------------------------------------


def within_across_solution(vectors: np.ndarray, labels: Sequence[str]) -> tuple[float, float]:
    """Solution to exercise 10.3: mean cosine over pairs of distinct rows with the same label, and with different."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    lab = np.asarray(labels)
    same = lab[:, None] == lab[None, :]
    distinct = ~np.eye(len(lab), dtype=bool)
    return float(sims[same & distinct].mean()), float(sims[~same].mean())


def check_within_across(fn: Callable[[np.ndarray, Sequence[str]], Any]) -> Feedback:
    """Check exercise 10.3 on random vectors of two senses against the course's ``within_across``."""
    name = "Exercise 10.3, cosine within and across senses"
    rng = np.random.default_rng(103)
    centres = rng.normal(size=(2, 16))
    labels = ["a"] * 5 + ["b"] * 4
    vectors = np.vstack([centres[0] + rng.normal(size=(5, 16)), centres[1] + rng.normal(size=(4, 16))])
    vectors *= rng.uniform(0.5, 3.0, size=(9, 1))  # different lengths: cosine, not the dot product
    answer, stop = attempt(name, fn, vectors.copy(), list(labels))
    if stop:
        return stop
    try:
        within, across = (float(v) for v in answer)
    except (TypeError, ValueError):
        return Feedback(name, INCORRECT, "Return a pair (within, across) of two numbers.")
    expected = within_across(vectors, labels)
    if np.allclose((within, across), expected, atol=1e-6):
        return Feedback(name, CORRECT, f"within {expected[0]:.3f} > across {expected[1]:.3f} on these vectors.")
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    same = np.asarray(labels)[:, None] == np.asarray(labels)[None, :]
    if np.isclose(within, sims[same].mean(), atol=1e-6):
        return Feedback(name, INCORRECT, "Leave out the pairs of a sentence with itself (cosine 1) from 'within'.")
    dots = vectors @ vectors.T
    if np.isclose(within, dots[same & ~np.eye(9, dtype=bool)].mean(), atol=1e-6):
        return Feedback(name, INCORRECT, "That is the dot product: divide by both vectors' lengths for the cosine.")
    return Feedback(name, INCORRECT, f"Expected within {expected[0]:.4f}, across {expected[1]:.4f}; "
                                     f"got {within:.4f}, {across:.4f}.")
