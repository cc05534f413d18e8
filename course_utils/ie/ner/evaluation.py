"""Predicting and scoring with the chapter-12 tagger: entities for whole documents (sliding windows, the
course's batched Viterbi), the document-level exact-span scorer, per-document counts and the document
bootstrap (chapter 12).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..bio import (
    RUIJIN_TYPES,
    chunk_document,
    decode_document,
    encode_document,
    merge_windows,
)
from ..brat import BratDocument, Entity
from ..linebreaks import remove_line_breaks
from ..scoring import Mention, SpanScores, error_classes, score_mentions, scores_table, token_accuracy
from .model import CharVocab, Example, NerError, NerModel
from .training import _predict_examples

__all__ = ["Evaluation", "predict_documents", "evaluate_documents", "document_counts", "bootstrap_micro_f1"]

def predict_documents(model: NerModel, vocab: CharVocab, texts: Sequence[str], *, max_length: int = 128,
                      stride: int = 16, batch_size: int = 64, device: Any = "cpu",
                      doc_ids: Sequence[str] | None = None) -> tuple[list[list[Entity]], list[list[str]]]:
    """Return predicted entities in ORIGINAL offsets per text, and the cleaned-text tags (chapter 12).

    Each text loses its line breaks, is cut at sentence punctuation into windows of ``max_length`` (overlap
    ``stride``), tagged, merged and decoded; spans over a deleted line break come back as two fragments.
    """
    ids = list(doc_ids) if doc_ids is not None else [str(i) for i in range(len(texts))]
    cleaned, examples, owners = [], [], []
    for d, text in enumerate(texts):
        clean, offsets = remove_line_breaks(text)
        cleaned.append((clean, offsets))
        for chunk in chunk_document(clean, max_length=max_length, stride=stride, doc_id=ids[d]):
            piece = clean[chunk.start:chunk.end]
            examples.append(Example(chunk, vocab.encode(piece), [0] * len(piece)))
            owners.append(d)
    preds = _predict_examples(model, examples, batch_size, device) if examples else []
    windows: list[list[tuple[int, int, list[str]]]] = [[] for _ in texts]
    for ex, d, p in zip(examples, owners, preds, strict=True):
        windows[d].append((ex.chunk.start, ex.chunk.end, [model.tags[i] for i in p]))
    entities, all_tags = [], []
    for d, (clean, offsets) in enumerate(cleaned):
        tags = merge_windows(len(clean), windows[d])
        all_tags.append(tags)
        entities.append(decode_document(tags, offsets, doc_id=ids[d]))
    return entities, all_tags


@dataclass
class Evaluation:
    """Exact span + type scores on the original brat offsets, error classes, token accuracy, and the predicted
    entities of each document (chapter 12)."""

    scores: SpanScores
    errors: dict[str, int]
    token_accuracy: float
    gold_tags: list[list[str]]
    pred_tags: list[list[str]]
    entities: list[list[Entity]] = field(default_factory=list)

    def table(self) -> Any:
        """Return the per-type table with micro and macro rows (pandas; chapter 12)."""
        return scores_table(self.scores, [t for t in RUIJIN_TYPES if t in self.scores.per_type]
                            or None)


def mentions_of(doc_id: str, entities: Sequence[Entity]) -> list[Mention]:
    """Return scoring mentions of brat entities (chapter 12)."""
    return [Mention(doc_id, e.type, e.spans) for e in entities]


def evaluate_documents(model: NerModel, vocab: CharVocab, docs: Sequence[BratDocument], *, max_length: int = 128,
                       stride: int = 16, device: Any = "cpu") -> Evaluation:
    """Return the :class:`Evaluation` of ``model`` on brat documents, every gold entity counted (chapter 12)."""
    entities, pred_tags = predict_documents(model, vocab, [d.text for d in docs], max_length=max_length,
                                            stride=stride, device=device, doc_ids=[d.doc_id for d in docs])
    gold = [m for d in docs for m in mentions_of(d.doc_id, d.entities)]
    pred = [m for d, ents in zip(docs, entities, strict=True) for m in mentions_of(d.doc_id, ents)]
    gold_tags = [encode_document(d).tags for d in docs]
    return Evaluation(score_mentions(gold, pred), error_classes(gold, pred), token_accuracy(gold_tags, pred_tags),
                      gold_tags, pred_tags, entities)


def document_counts(docs: Sequence[BratDocument], predicted: Sequence[Sequence[Entity]]) -> np.ndarray:
    """Return a ``(documents, 3)`` array of exact span + type TP, FP, FN per document (chapter 12)."""
    rows = []
    for doc, ents in zip(docs, predicted, strict=True):
        micro = score_mentions(mentions_of(doc.doc_id, doc.entities), mentions_of(doc.doc_id, ents)).micro
        rows.append((micro.tp, micro.fp, micro.fn))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def bootstrap_micro_f1(counts: Sequence[np.ndarray], *, replicates: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float, float]:
    """Return ``(mean, low, high)``: the seed-mean micro-F1 and its document-level bootstrap interval (chapter 12).

    ``counts`` holds one :func:`document_counts` array per seed, all over the same documents. Each replicate
    draws the documents with replacement (the same draw for every seed), pools each seed's counts over the draw,
    and averages the seeds' micro-F1; the interval is the ``level`` percentile range of those averages.
    """
    stacked = np.stack([np.asarray(c, dtype=np.float64) for c in counts])  # seeds x documents x 3
    if stacked.ndim != 3 or stacked.shape[1] == 0:
        raise NerError("bootstrap needs per-document counts of at least one document for each seed.")

    def f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
        denominator = 2 * tp + fp + fn
        return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)

    total = stacked.sum(axis=1)
    mean = float(f1(total[:, 0], total[:, 1], total[:, 2]).mean())
    rng = np.random.default_rng(seed)
    n = stacked.shape[1]
    draws = rng.integers(0, n, size=(replicates, n))
    weights = np.stack([np.bincount(d, minlength=n) for d in draws]).astype(np.float64)  # replicates x documents
    pooled = np.einsum("rd,sdk->rsk", weights, stacked)
    means = f1(pooled[..., 0], pooled[..., 1], pooled[..., 2]).mean(axis=1)
    tail = (1 - level) / 2
    return mean, float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
