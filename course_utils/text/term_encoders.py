"""Turning terms into vectors for evaluation (chapter 11): static vectors as a :class:`StaticEncoder`, a transformer
as a :class:`ContextualEncoder`, which gives every term a vector (WordPieces never run out of vocabulary) by
embedding the term on its own and pooling the last layer's vectors of its pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .readers import EvaluationError

__all__ = [
    "TermEncoder",
    "StaticEncoder",
    "ContextualEncoder",
    "wordpiece_split",
    "lora_adapted_folder",
    "encoder_vectors",
]


# --- turning terms into vectors -----------------------------------------------------------------------------------


class TermEncoder(Protocol):
    """Anything that turns terms (a word or a short phrase) into vectors, saying which it could represent."""

    name: str

    def encode(self, terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return (vectors (n, d), covered (n,) booleans); rows of uncovered terms are zero."""
        ...


def _default_words(text: str) -> list[str]:
    from .tokenize import words

    return words(text)


@dataclass
class StaticEncoder:
    """A :class:`TermEncoder` over static word vectors (chapters 8-9): a term is its word's vector; a phrase is
    the mean of its words' unit vectors when every word is known (chapter 8's ``phrase_vector``, "average"),
    else not covered. Terms are split with the course's ``words`` tokenizer (lower-cased)."""

    vectors: Any
    name: str = ""
    tokenize: Callable[[str], list[str]] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            self.name = str(getattr(self.vectors, "name", "vectors"))

    def encode(self, terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return (vectors, covered) for ``terms``; see the class docstring for phrases."""
        from .vectors import phrase_vector

        tokenize = self.tokenize or _default_words
        dim = int(np.asarray(self.vectors.matrix).shape[1])
        out = np.zeros((len(terms), dim), dtype=np.float64)
        covered = np.zeros(len(terms), dtype=bool)
        for i, term in enumerate(terms):
            vec = phrase_vector(self.vectors, term.lower(), policy="average", tokenize=tokenize)
            if vec is not None and np.any(vec):
                out[i], covered[i] = vec, True
        return out, covered


_POOLINGS = ("pieces", "first", "sentence")


@dataclass
class ContextualEncoder:
    """A :class:`TermEncoder` over a transformer (chapters 10-11): each term is tokenized on its own into
    WordPieces and run through the model; its vector is the mean of the chosen layer's vectors over its pieces.

    ``pooling``: ``"pieces"`` averages the term's WordPieces only ([CLS] and [SEP] left out; the course's
    default), ``"first"`` takes the first piece, ``"sentence"`` averages all tokens including [CLS] and [SEP]
    (sentence-transformers' mean pooling). ``layer`` indexes ``hidden_states`` (-1: the last layer). Every term
    is covered: a word missing from the vocabulary is split into known pieces.
    """

    tokenizer: Any
    model: Any
    name: str = "transformer"
    pooling: str = "pieces"
    layer: int = -1
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.pooling not in _POOLINGS:
            raise EvaluationError(f"Unknown pooling {self.pooling!r}; use one of {', '.join(_POOLINGS)}.")

    def encode(self, terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return (vectors, covered) for ``terms``; every term is covered."""
        import torch

        terms = list(terms)
        dev = next(self.model.parameters()).device
        width = int(self.model.config.hidden_size)
        out = np.zeros((len(terms), width), dtype=np.float64)
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            for start in range(0, len(terms), self.batch_size):
                chunk = terms[start:start + self.batch_size]
                batch = self.tokenizer(chunk, padding=True, truncation=True, max_length=64,
                                       return_special_tokens_mask=True, return_tensors="pt")
                special = batch.pop("special_tokens_mask").bool()
                batch = {k: v.to(dev) for k, v in batch.items()}
                hidden = self.model(**batch, output_hidden_states=True).hidden_states[self.layer].float().cpu()
                attention = batch["attention_mask"].cpu().bool()
                if self.pooling == "sentence":
                    mask = attention
                elif self.pooling == "pieces":
                    mask = attention & ~special
                else:  # first piece: the first non-special position of each row
                    mask = torch.zeros_like(attention)
                    pieces = attention & ~special
                    first = pieces.float().argmax(dim=1)
                    mask[torch.arange(len(chunk)), first] = pieces.any(dim=1)
                m = mask.unsqueeze(-1).float()
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
                out[start:start + len(chunk)] = pooled.numpy()
        if was_training:
            self.model.train()
        return out, np.ones(len(terms), dtype=bool)


def wordpiece_split(tokenizer: Any, term: str) -> list[str]:
    """Return the WordPieces a tokenizer splits ``term`` into, without [CLS]/[SEP] (chapter 11)."""
    return list(tokenizer.tokenize(term))


def encoder_vectors(encoder: TermEncoder, words: Sequence[str], name: str | None = None) -> Any:
    """Return chapter 8's ``WordVectors`` for the ``words`` an encoder covers, each word encoded on its own
    (chapter 11), so that a contextual model's neighbours can be listed beside the static methods'."""
    from .vectors import WordVectors

    words = list(dict.fromkeys(words))
    vecs, covered = encoder.encode(words)
    kept = [w for w, c in zip(words, covered) if c]
    return WordVectors(tuple(kept), vecs[covered].astype(np.float32), name or encoder.name)


def lora_adapted_folder(settings: Any) -> Path:
    """Return the cached folder of chapter 10's base MLM adapted with LoRA to the target domain, the adapters
    merged into the weights, ready for :class:`ContextualEncoder` (chapter 11; settings are chapter 10's).

    The same recipe as chapter 10's LoRA row (rank, alpha, targets, learning rate, epochs, training texts of
    the target domain; the held-out part is left out), built once (locked, idempotent) and reused.
    """
    from ..cache import cache_key, cached_folder
    from . import mlm

    fields = {k: v for k, v in vars(settings).items()}
    key = cache_key("ch11-lora-adapted-mlm", {**fields, "base": str(mlm.base_model_folder(settings))})

    def build(folder: Path) -> None:
        if settings.corpus == "synthetic":
            target = mlm.domain_texts(settings.max_documents, 1, seed=settings.seed + 1)
        else:
            from .corpus import corpus_documents

            target = [d.text for d in corpus_documents(settings)]
        train, _ = mlm.split_held_out(target, settings.held_out_fraction, seed=settings.seed)
        tokenizer, model = mlm.load_mlm(mlm.base_model_folder(settings))
        model = mlm.add_lora(model, settings.lora_rank, alpha=settings.lora_alpha, targets=settings.lora_targets)
        mlm.fine_tune(model, tokenizer, mlm.encode_for_mlm(tokenizer, train, settings.max_length), method="lora",
                      learning_rate=settings.learning_rate_lora, epochs=settings.epochs, batch_size=settings.batch_size,
                      seed=settings.seed, mask_probability=settings.mask_probability,
                      description="LoRA adaptation (chapter 10's recipe)")
        merged = model.merge_and_unload()
        with mlm.quiet_training():
            merged.save_pretrained(folder)
            tokenizer.save_pretrained(folder)

    return cached_folder(key, build)
