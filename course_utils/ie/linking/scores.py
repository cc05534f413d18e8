"""Scoring entity linking (chapter 14): Acc@k (lenient), strict accuracy on composite mentions, per-mention hits,
the document bootstrap of a margin between two linkers, synonym-pair cosines and the hardest errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import (
    Vocabulary,
    normalize_name,
    split_composite,
)
from .rankers import ContextLinker, LinkingError

__all__ = ["accuracy_at_k", "strict_accuracy", "hits_at_k", "MarginInterval", "document_bootstrap_margin",
           "document_bootstrap_accuracy", "evaluate",
           "LinkingScores", "pair_cosines", "synonym_auc", "hardest_errors"]

def accuracy_at_k(ranked_ids: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], k: int) -> float:
    """Return the share of queries with any gold id among their first ``k`` ranked ids (lenient rule)."""
    if len(ranked_ids) != len(gold):
        raise LinkingError(f"{len(ranked_ids)} rankings for {len(gold)} gold entries.")
    if not gold:
        return float("nan")
    hits = sum(bool(set(r[:k]) & set(g)) for r, g in zip(ranked_ids, gold))
    return hits / len(gold)


def strict_accuracy(predicted: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> float:
    """Return the share of queries whose predicted ids include every gold id (strict rule for composites)."""
    if len(predicted) != len(gold):
        raise LinkingError(f"{len(predicted)} predictions for {len(gold)} gold entries.")
    if not gold:
        return float("nan")
    return sum(set(g) <= set(p) for p, g in zip(predicted, gold)) / len(gold)


def hits_at_k(ranked_ids: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], k: int = 1) -> np.ndarray:
    """Return, per query, whether any gold id is among its first ``k`` ranked ids (lenient rule, chapter 14): the
    per-mention outcomes that :func:`accuracy_at_k` averages and :func:`document_bootstrap_margin` pairs."""
    if len(ranked_ids) != len(gold):
        raise LinkingError(f"{len(ranked_ids)} rankings for {len(gold)} gold entries.")
    return np.array([bool(set(r[:k]) & set(g)) for r, g in zip(ranked_ids, gold)], dtype=bool)


@dataclass(frozen=True)
class MarginInterval:
    """The accuracy margin of one linker over another on the same mentions, with its bootstrap interval."""

    margin: float
    low: float
    high: float
    level: float
    n_mentions: int
    n_documents: int


def document_bootstrap_margin(hits_a: Sequence[bool] | np.ndarray, hits_b: Sequence[bool] | np.ndarray,
                              documents: Sequence[str], *, n_boot: int = 2000, level: float = 0.95,
                              seed: int = 0) -> MarginInterval:
    """Return the margin ``mean(hits_b) - mean(hits_a)`` with a paired percentile interval from resampling whole
    documents (chapter 14).

    Mentions of one abstract are not independent (one disease named ten times, one short form misread
    throughout), so the bootstrap draws documents with replacement, keeps every mention of each drawn document for
    both linkers, and recomputes the margin of the pooled mentions; with one mention per document it is the usual
    paired bootstrap over mentions.
    """
    a, b = np.asarray(hits_a, dtype=np.float64), np.asarray(hits_b, dtype=np.float64)
    if not (len(a) == len(b) == len(documents)):
        raise LinkingError(f"{len(a)} and {len(b)} outcomes for {len(documents)} document ids; pair every mention "
                           "of both linkers with its document.")
    if len(a) == 0:
        raise LinkingError("No mentions to compare.")
    if not 0 < level < 1:
        raise LinkingError(f"level must be between 0 and 1 (e.g. 0.95); got {level}.")
    names, group = np.unique(np.asarray(documents, dtype=str), return_inverse=True)
    n_docs = len(names)
    diff = np.bincount(group, weights=b - a, minlength=n_docs)  # per document: sum of (b - a)
    count = np.bincount(group, minlength=n_docs).astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_docs, size=(n_boot, n_docs))
    times = np.stack([np.bincount(d, minlength=n_docs) for d in draws]).astype(np.float64)
    margins = (times @ diff) / (times @ count)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(margins, [tail, 100 - tail])
    return MarginInterval(float(b.mean() - a.mean()), float(low), float(high), level, len(a), n_docs)


def document_bootstrap_accuracy(hits: Sequence[bool] | np.ndarray, documents: Sequence[str], *, n_boot: int = 2000,
                                level: float = 0.95, seed: int = 0) -> MarginInterval:
    """Return one linker's accuracy with a percentile interval from resampling whole documents (chapter 14).

    The margin over a linker that never hits: the same draws as :func:`document_bootstrap_margin`, so an accuracy
    and a margin made with one seed resample the same documents. ``margin`` holds the accuracy.
    """
    hits = np.asarray(hits, dtype=np.float64)
    return document_bootstrap_margin(np.zeros_like(hits), hits, documents, n_boot=n_boot, level=level, seed=seed)


@dataclass(frozen=True)
class LinkingScores:
    """Acc@1 / Acc@5 (lenient), strict accuracy, per mention and per unique mention."""

    acc1: float
    acc5: float
    strict: float
    acc1_unique: float
    acc5_unique: float
    n: int
    n_unique: int

    def row(self) -> dict[str, float]:
        """Return the scores as a table row."""
        return {"Acc@1": self.acc1, "Acc@5": self.acc5, "strict Acc@1": self.strict,
                "Acc@1 (unique)": self.acc1_unique, "Acc@5 (unique)": self.acc5_unique}


def evaluate(linker: Any, queries: Sequence[str], gold: Sequence[Sequence[str]], *, k: int = 5,
             variants: Sequence[str] | None = None, cited: Sequence[Iterable[str]] | None = None) -> LinkingScores:
    """Return the lenient and strict scores of ``linker`` on ``queries`` with their ``gold`` ids (chapter 14).

    Per unique mention: each distinct (normalised query, gold ids) pair counts once. ``variants`` (one other
    surface form per query) and ``cited`` are passed to a :class:`ContextLinker`. Strict rule: a query with
    several gold ids is split into parts (:func:`split_composite`), each part linked in the query's context (its
    part of the variant when that splits into as many parts, else itself; the query's cited ids); a mention
    with several gold ids that does not split (a combination concept, alternative ids) can never be strictly
    right; every other query keeps its own top id, so its strict outcome does not depend on the rest of the
    batch. Deciding the split by the gold id count follows BioSyn's preprocessing.
    """
    if (variants is not None or cited is not None) and not isinstance(linker, ContextLinker):
        raise LinkingError("variants and cited ids need a ContextLinker, which scores each query in its abstract.")
    if variants is None and cited is None:
        ranking = linker.rank(list(queries), k=k)
    else:
        ranking = linker.rank(list(queries), k=k, variants=None if variants is None else list(variants),
                              cited=None if cited is None else list(cited))
    ranked = [list(r) for r in ranking.ids]
    # strict: a composite is split into its parts, each linked to its top id *in the same context* as the query
    # (its part of the expanded variant, the query's cited ids); any other query keeps its own top id
    predicted: list[list[str]] = [[r[0]] if r else [""] for r in ranked]
    split = [(j, split_composite(q)) for j, (q, g) in enumerate(zip(queries, gold)) if len(g) > 1]
    split = [(j, parts) for j, parts in split if len(parts) > 1]
    if split:
        flat = [p for _, parts in split for p in parts]
        if variants is None and cited is None:
            part_top = linker.rank(flat, k=1).top1()
        else:
            part_variants, part_cited = [], []
            for j, parts in split:
                other = split_composite(variants[j]) if variants is not None else []
                part_variants += other if len(other) == len(parts) else parts
                part_cited += [cited[j] if cited is not None else ()] * len(parts)
            part_top = linker.rank(flat, k=1, variants=part_variants,
                                   cited=None if cited is None else part_cited).top1()
        i = 0
        for j, parts in split:
            predicted[j] = part_top[i:i + len(parts)]
            i += len(parts)
    seen: dict[tuple[str, tuple[str, ...]], int] = {}
    for j, (q, g) in enumerate(zip(queries, gold)):
        seen.setdefault((normalize_name(q), tuple(sorted(g))), j)
    uniq = list(seen.values())
    return LinkingScores(
        accuracy_at_k(ranked, gold, 1), accuracy_at_k(ranked, gold, 5), strict_accuracy(predicted, gold),
        accuracy_at_k([ranked[j] for j in uniq], [gold[j] for j in uniq], 1),
        accuracy_at_k([ranked[j] for j in uniq], [gold[j] for j in uniq], 5), len(gold), len(uniq))


def pair_cosines(encoder: tuple[Any, Any], vocabulary: Vocabulary, *, n_pairs: int = 400, seed: int = 1234,
                 queries: Sequence[str] = (), gold: Sequence[Sequence[str]] = (), pooling: str = "mean"
                 ) -> dict[str, np.ndarray]:
    """Return cosines of synonym pairs (a query and a dictionary name of its gold id) and of random
    non-synonym pairs (a query and a name of another id), as the SapBERT poster plots them (chapter 14).
    ``pooling``: the encoder's (:func:`model_pooling`)."""
    from ...text.pretrained import embed_texts

    rng = np.random.default_rng(seed)
    names_of = vocabulary.concepts
    ids = sorted(names_of)
    pos, neg = [], []
    for q, g in zip(queries, gold):
        own = [n for cid in g for n in names_of.get(cid, [])]
        if own:
            pos.append((q, own[int(rng.integers(len(own)))]))
            other = ids[int(rng.integers(len(ids)))]
            while other in g:
                other = ids[int(rng.integers(len(ids)))]
            neg.append((q, names_of[other][0]))
    pick = rng.permutation(len(pos))[:n_pairs]
    pos, neg = [pos[i] for i in pick], [neg[i] for i in pick]

    def cos(pairs: list[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        a = embed_texts([normalize_name(x) for x, _ in pairs], encoder=encoder, pooling=pooling, show_progress=False)
        b = embed_texts([normalize_name(y) for _, y in pairs], encoder=encoder, pooling=pooling, show_progress=False)
        return (a * b).sum(1)

    return {"synonyms": cos(pos), "non-synonyms": cos(neg)}


def synonym_auc(cosines: dict[str, np.ndarray]) -> float:
    """Return the share of (synonym pair, non-synonym pair) combinations in which the synonym pair has the higher
    cosine: the area under the ROC curve of the cosine used as a synonym test (chapter 14)."""
    pos, neg = np.asarray(cosines["synonyms"]), np.asarray(cosines["non-synonyms"])
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def hardest_errors(linker: Any, queries: Sequence[str], gold: Sequence[Sequence[str]], n: int = 8) -> list[dict[str, Any]]:
    """Return the ``n`` wrong top-1 links the linker was most sure of: query, gold name, predicted name, score."""
    ranking = linker.rank(list(queries), k=1)
    names_of = linker.vocabulary.concepts
    wrong = [(ranking.scores[i][0], i) for i in range(len(queries))
             if ranking.ids[i] and ranking.ids[i][0] not in gold[i]]
    out = []
    for score, i in sorted(wrong, reverse=True)[:n]:
        gold_names = [names_of[c][0] for c in gold[i] if c in names_of]
        out.append({"mention": queries[i], "gold": gold_names[0] if gold_names else "/".join(gold[i]),
                    "predicted": ranking.names[i][0], "score": round(float(score), 3)})
    return out
