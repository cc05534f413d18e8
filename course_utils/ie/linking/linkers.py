"""Entity linking as nearest-neighbour search over a dictionary of names, and how to score it (chapter 14).

A linker ranks concept ids for a mention. Three are built here, from the simplest up:

* :class:`ExactMatchLinker` -- the normalised mention equals a normalised dictionary name;
* :class:`TfidfLinker` -- cosine over character 2-4-gram TF-IDF vectors (BioSyn's sparse half);
* :class:`DenseLinker` -- cosine between encoder vectors (an untrained encoder, or one self-aligned by
  :mod:`course_utils.ie.linking.self_align`), exact search batched on the device;

and :class:`CombinedLinker` adds a weighted sparse score to the dense one. :class:`ContextLinker` wraps any of the
last three with two things a mention's annotation context offers: it scores each mention by its better
variant (as written, or with the abbreviations of its abstract expanded) and adds a small prior to ids that the
training annotations use. Names are ranked, then collapsed to
concept ids (a concept scores its best name), so Acc@5 means "a gold id among the first five distinct ids".

Scoring rules, stated once: **lenient** -- correct when any gold id of the mention is among the top k (a
composite mention such as "breast and ovarian cancer", ids D001943|D010051, is right if either id is found);
**strict** -- a composite mention is split into its parts (:func:`~course_utils.ie.linking.data.split_composite`),
each part linked to its top id, and it is right only when every gold id is among them.

**Pooling**: an encoder's names are embedded with the pooling it was trained with (:func:`model_pooling`):
the mean of the token vectors for MiniLM, the [CLS] vector for SapBERT and for an encoder the course
self-aligns with SapBERT's recipe.

The exact search is a matrix product: fine up to a few million names on one GPU; beyond that (all of UMLS, 10 M+
names, 768 floats each: 30 GB) an approximate index (FAISS IVF/HNSW) trades a little recall for memory and speed.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...commands import Verb, non_negative_int, positive_int, run_command
from ...errors import CourseError
from .data import (
    LinkingDataError,
    Vocabulary,
    normalize_name,
    parse_ids,
    split_composite,
)

__all__ = [
    "LinkingError",
    "Ranking",
    "ExactMatchLinker",
    "TfidfLinker",
    "DenseLinker",
    "CombinedLinker",
    "ContextLinker",
    "accuracy_at_k",
    "strict_accuracy",
    "hits_at_k",
    "MarginInterval",
    "document_bootstrap_margin",
    "evaluate",
    "LinkingScores",
    "pair_cosines",
    "synonym_auc",
    "hardest_errors",
    "read_dictionary_tsv",
    "read_mention_lines",
    "read_document_mentions",
    "DocumentMentions",
    "is_pubtator",
    "LinkerRecipe",
    "RECIPES",
    "recipe",
    "build_linker",
    "TRAINED_POOLING",
    "model_pooling",
    "main",
]


class LinkingError(CourseError, ValueError):
    """A linker was given something it cannot use (an empty dictionary, a file that is not text)."""


#: The pooling each encoder of the chapter was trained with, by model name (manifest name, alias or hub id).
#: MiniLM was trained as a sentence encoder on the mean of its token vectors; SapBERT with [CLS]
#: (``agg_mode="cls"`` in its training and evaluation code; the mean-pooled variant is another model,
#: ``...-fulltext-mean-token``); BiomedBERT was never trained to embed names: the course self-aligns it with
#: SapBERT's recipe, [CLS], and scores it the same way before and after.
TRAINED_POOLING: dict[str, str] = {
    "minilm": "mean",
    "minilm_l6_v2": "mean",
    "sentence-transformers/all-MiniLM-L6-v2": "mean",
    "sapbert": "cls",
    "cambridgeltl/SapBERT-from-PubMedBERT-fulltext": "cls",
    "biomedbert": "cls",
    "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext": "cls",
}


def model_pooling(model: str | Path) -> str:
    """Return the pooling encoder ``model`` was trained with: ``"cls"`` or ``"mean"`` (chapter 14).

    A folder written by ``train`` (:func:`course_utils.ie.linking.self_align.save_encoder`) says so in its record; a
    model the chapter uses is looked up in :data:`TRAINED_POOLING`. Any other model raises
    :class:`LinkingError`: scored with the wrong pooling an encoder looks worse than it is, so the caller must
    say which (``--pooling`` on the command line).
    """
    from .self_align import saved_pooling

    folder = Path(model)
    if folder.is_dir():
        recorded = saved_pooling(folder)
        if recorded is not None:
            return recorded
    known = TRAINED_POOLING.get(str(model))
    if known is not None:
        return known
    raise LinkingError(f"No recorded pooling for the model {str(model)!r}: it is neither a folder saved by `train` "
                       f"nor one of {', '.join(sorted(TRAINED_POOLING))}. Say how it was trained: --pooling cls "
                       "([CLS] vector, SapBERT's recipe) or --pooling mean (mean of the token vectors).")


@dataclass(frozen=True)
class Ranking:
    """Top concept ids per query, best first, with their scores and the name that gave each score."""

    ids: tuple[tuple[str, ...], ...]
    scores: tuple[tuple[float, ...], ...]
    names: tuple[tuple[str, ...], ...]

    def top1(self) -> list[str]:
        """Return the best id of each query ('' when a query found nothing)."""
        return [ids[0] if ids else "" for ids in self.ids]


def _check_vocabulary(vocabulary: Vocabulary) -> None:
    if len(vocabulary) == 0:
        raise LinkingError("The dictionary is empty: give at least one (name, id) row.")


def _collapse(order: np.ndarray, scores: np.ndarray, vocabulary: Vocabulary, k: int) -> tuple[tuple[str, ...], tuple[float, ...], tuple[str, ...]]:
    ids: list[str] = []
    best: list[float] = []
    names: list[str] = []
    for j in order:
        cid = vocabulary.ids[j]
        if cid in ids:
            continue
        ids.append(cid)
        best.append(float(scores[j]))
        names.append(vocabulary.names[j])
        if len(ids) == k:
            break
    return tuple(ids), tuple(best), tuple(names)


def _rank_from_scores(score_rows: np.ndarray, vocabulary: Vocabulary, k: int) -> list[tuple[Any, Any, Any]]:
    out = []
    width = min(score_rows.shape[1], max(k * 20, 50))
    for row in score_rows:
        top = np.argpartition(-row, width - 1)[:width] if width < row.shape[0] else np.arange(row.shape[0])
        top = top[np.lexsort((top, -row[top]))]  # by score, ties by dictionary order
        out.append(_collapse(top, row, vocabulary, k))
    return out


class ExactMatchLinker:
    """Link a mention whose normalised text equals a normalised dictionary name (chapter 14)."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        _check_vocabulary(vocabulary)
        self.vocabulary = vocabulary
        self._index: dict[str, list[int]] = {}
        for j, name in enumerate(vocabulary.names):
            self._index.setdefault(normalize_name(name), []).append(j)

    def rank(self, queries: Sequence[str], k: int = 5) -> Ranking:
        """Return the ids whose name matches each query exactly (score 1), in dictionary order."""
        rows = []
        for q in queries:
            hits = np.array(self._index.get(normalize_name(q), []), dtype=int)
            rows.append(_collapse(hits, np.ones(len(self.vocabulary)), self.vocabulary, k) if hits.size else ((), (), ()))
        return Ranking(*(tuple(r[i] for r in rows) for i in range(3)))


class TfidfLinker:
    """Rank ids by cosine between character n-gram TF-IDF vectors of normalised names (chapter 14)."""

    def __init__(self, vocabulary: Vocabulary, ngram_range: tuple[int, int] = (2, 4)) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        _check_vocabulary(vocabulary)
        self.vocabulary = vocabulary
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, lowercase=False,
                                          sublinear_tf=True, dtype=np.float32)
        self.matrix = self.vectorizer.fit_transform([normalize_name(n) for n in vocabulary.names]).tocsr()

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Return the (queries x names) cosine matrix, dense float32."""
        q = self.vectorizer.transform([normalize_name(x) for x in queries])
        return (q @ self.matrix.T).toarray().astype(np.float32)

    def rank(self, queries: Sequence[str], k: int = 5, batch_size: int = 512) -> Ranking:
        """Return the top ``k`` ids of each query."""
        rows = []
        for start in range(0, len(queries), batch_size):
            rows += _rank_from_scores(self.scores(queries[start:start + batch_size]), self.vocabulary, k)
        return Ranking(*(tuple(r[i] for r in rows) for i in range(3)))


class DenseLinker:
    """Rank ids by cosine between encoder vectors of normalised names; exact search on the device (chapter 14).

    ``encoder`` is ``(tokenizer, model)``, e.g. :func:`course_utils.text.pretrained.load_encoder`; the names are
    embedded once (unit length) and kept on the model's device. ``pooling`` must be the one the encoder was
    trained with (:func:`model_pooling`): ``"mean"`` for MiniLM, ``"cls"`` for SapBERT.
    """

    def __init__(self, vocabulary: Vocabulary, encoder: tuple[Any, Any], *, pooling: str = "mean",
                 batch_size: int = 128, max_length: int = 25, show_progress: bool = True) -> None:
        import torch

        from ...text.pretrained import embed_texts
        from .self_align import POOLINGS

        _check_vocabulary(vocabulary)
        if pooling not in POOLINGS:
            raise LinkingError(f"pooling must be one of {POOLINGS}, not {pooling!r}.")
        self.vocabulary = vocabulary
        self.encoder = encoder
        self.pooling = pooling
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = next(encoder[1].parameters()).device
        names = [normalize_name(n) for n in vocabulary.names]
        vecs = embed_texts(names, encoder=encoder, batch_size=batch_size, max_length=max_length, pooling=pooling,
                           show_progress=show_progress)
        self.name_vectors = torch.from_numpy(vecs).to(self.device)

    def embed(self, queries: Sequence[str]) -> np.ndarray:
        """Return unit vectors of the normalised queries."""
        from ...text.pretrained import embed_texts

        return embed_texts([normalize_name(q) for q in queries], encoder=self.encoder, batch_size=self.batch_size,
                           max_length=self.max_length, pooling=self.pooling, show_progress=False)

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Return the (queries x names) cosine matrix."""
        import torch

        q = torch.from_numpy(self.embed(queries)).to(self.device)
        return (q @ self.name_vectors.T).float().cpu().numpy()

    def rank(self, queries: Sequence[str], k: int = 5, batch_size: int = 256) -> Ranking:
        """Return the top ``k`` ids of each query (the top names found with ``torch.topk`` on the device)."""
        import torch

        rows = []
        width = min(len(self.vocabulary), max(k * 20, 50))
        for start in range(0, len(queries), batch_size):
            q = torch.from_numpy(self.embed(queries[start:start + batch_size])).to(self.device)
            sims = q @ self.name_vectors.T
            values, index = torch.topk(sims, width, dim=1)
            for vals, idx in zip(values.float().cpu().numpy(), index.cpu().numpy()):
                full = np.full(len(self.vocabulary), -np.inf, dtype=np.float32)
                full[idx] = vals
                order = idx[np.lexsort((idx, -vals))]
                rows.append(_collapse(order, full, self.vocabulary, k))
        return Ranking(*(tuple(r[i] for r in rows) for i in range(3)))


class CombinedLinker:
    """Rank ids by dense cosine + ``weight`` x sparse cosine (BioSyn's combination) (chapter 14)."""

    def __init__(self, dense: DenseLinker, sparse: TfidfLinker, weight: float = 0.25) -> None:
        if dense.vocabulary is not sparse.vocabulary and dense.vocabulary.names != sparse.vocabulary.names:
            raise LinkingError("The dense and sparse linkers must share one dictionary.")
        self.dense, self.sparse, self.weight = dense, sparse, weight
        self.vocabulary = dense.vocabulary

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """Return the (queries x names) combined score matrix."""
        return self.dense.scores(queries) + self.weight * self.sparse.scores(queries)

    def rank(self, queries: Sequence[str], k: int = 5, batch_size: int = 256) -> Ranking:
        """Return the top ``k`` ids by the combined score."""
        rows = []
        for start in range(0, len(queries), batch_size):
            rows += _rank_from_scores(self.scores(queries[start:start + batch_size]), self.vocabulary, k)
        return Ranking(*(tuple(r[i] for r in rows) for i in range(3)))


class ContextLinker:
    """Rank ids by the better of two variants of each mention, plus a prior for ids seen in training (chapter 14).

    ``base`` is a linker with a ``scores`` method (TF-IDF, dense or combined). ``rank(queries, variants=...)``
    takes, per query, a second surface form (the mention with its abstract's abbreviations expanded, e.g.
    "CHD" -> "coronary heart disease"); each name scores the maximum over the two, so a short form that the
    dictionary knows as written keeps its match and one it does not know is linked by its long form.
    ``known_ids`` (the ids of the training annotations) get ``prior`` added to every one of their names' scores:
    an annotator is likely to reuse an id. ``cited`` (per query, the OMIM ids its abstract cites, e.g.
    "(OMIM 145001)") adds ``citation`` to those ids' names for that query alone. The defaults (0.1 each) and the
    max rule were chosen by two-fold cross-validation over NCBI-disease *training* documents
    (``benchmarks/ch14_linking.py context-crossval``; TF-IDF Acc@1 0.765 as written, 0.797 with the max rule, 0.808
    with the prior, 0.810 with the document's own short forms as second forms, 0.811 with the citation bonus),
    never on the develop set.
    """

    def __init__(self, base: Any, *, known_ids: Sequence[str] | set[str] | frozenset[str] = (),
                 prior: float = 0.1, citation: float = 0.1) -> None:
        if not hasattr(base, "scores"):
            raise LinkingError(f"{type(base).__name__} has no scores(); wrap a TF-IDF, dense or combined linker.")
        self.base = base
        self.vocabulary = base.vocabulary
        known = set(known_ids)
        self.bonus = np.float32(prior) * np.array([c in known for c in self.vocabulary.ids], dtype=np.float32)
        self.citation = np.float32(citation)
        self._columns: dict[str, list[int]] = {}
        for j, c in enumerate(self.vocabulary.ids):
            self._columns.setdefault(c, []).append(j)

    def scores(self, queries: Sequence[str], variants: Sequence[str] | None = None,
               cited: Sequence[Iterable[str]] | None = None) -> np.ndarray:
        """Return the (queries x names) scores: the better variant's score plus the prior, plus ``citation``
        for the names of ids the query's abstract cites (``cited``: one collection of ids per query, or None)."""
        s = self.base.scores(queries)
        if variants is not None:
            if len(variants) != len(queries):
                raise LinkingError(f"{len(variants)} variants for {len(queries)} queries: give one per query.")
            changed = [i for i, (q, v) in enumerate(zip(queries, variants)) if v and v != q]
            if changed:
                s[changed] = np.maximum(s[changed], self.base.scores([variants[i] for i in changed]))
        s = s + self.bonus
        if cited is not None:
            if len(cited) != len(queries):
                raise LinkingError(f"{len(cited)} cited-id sets for {len(queries)} queries: give one per query.")
            for i, ids in enumerate(cited):
                cols = [j for c in ids for j in self._columns.get(c, ())]
                if cols:
                    s[i, cols] += self.citation
        return s

    def rank(self, queries: Sequence[str], k: int = 5, batch_size: int = 256,
             variants: Sequence[str] | None = None, cited: Sequence[Iterable[str]] | None = None) -> Ranking:
        """Return the top ``k`` ids of each query (``variants``: one other surface form per query, or None;
        ``cited``: the ids each query's abstract cites, or None)."""
        rows = []
        for start in range(0, len(queries), batch_size):
            part = None if variants is None else variants[start:start + batch_size]
            ids = None if cited is None else cited[start:start + batch_size]
            rows += _rank_from_scores(self.scores(queries[start:start + batch_size], part, ids), self.vocabulary, k)
        return Ranking(*(tuple(r[i] for r in rows) for i in range(3)))


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


# ------------------------------------------------------------------------------------------------------------
# Files a user brings, and the command line.


def _read_text(path: Path, what: str) -> str:
    if path.is_dir():
        raise LinkingError(f"{path} is a folder; pass a {what}.")
    if not path.is_file():
        raise LinkingError(f"{path} does not exist; pass a {what}.")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise LinkingError(f"{path} is not a text file (it contains NUL bytes); pass a UTF-8 {what}.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LinkingError(f"{path} is not UTF-8 text (byte {exc.start}); pass a UTF-8 {what}.") from None


def read_dictionary_tsv(path: str | Path) -> Vocabulary:
    """Return the dictionary of a TSV file with one ``id<TAB>name`` row per line (chapter 14's commands)."""
    path = Path(path)
    names: list[str] = []
    ids: list[str] = []
    for lineno, line in enumerate(_read_text(path, "dictionary (id<TAB>name per line)").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 2 or not cols[1].strip():
            raise LinkingError(f"{path}:{lineno}: expected 'id<TAB>name', found {line[:60]!r}.")
        parsed, _ = parse_ids(cols[0], where=f"{path}:{lineno}")
        if len(parsed) != 1:
            raise LinkingDataError(f"{path}:{lineno}: a dictionary row names one id, found {cols[0]!r}.")
        ids.append(parsed[0])
        names.append(cols[1].strip())
    vocab = Vocabulary(tuple(names), tuple(ids))
    _check_vocabulary(vocab)
    return vocab


def read_mention_lines(path: str | Path) -> list[str]:
    """Return the mentions of a text file, one per non-empty line (chapter 14's commands)."""
    path = Path(path)
    lines = [line.strip() for line in _read_text(path, "mention file (one mention per line)").splitlines()]
    mentions = [line for line in lines if line]
    if not mentions:
        raise LinkingError(f"{path} has no mentions; write one mention per line.")
    return mentions


_PUBTATOR_TEXT = re.compile(r"^(\d+)\|([ta])\|(.*)$")


@dataclass(frozen=True)
class DocumentMentions:
    """Mentions read with their documents (chapter 14's ``link`` command): what the context features need.

    ``queries`` as written; ``variants`` each with its abstract's short forms expanded; ``cited`` the OMIM ids
    its abstract cites; ``where`` (document, start, end) per mention; ``gold`` the ids of the file (empty tuples
    where the file gives none)."""

    queries: tuple[str, ...]
    variants: tuple[str, ...]
    cited: tuple[frozenset[str], ...]
    where: tuple[tuple[str, int, int], ...]
    gold: tuple[tuple[str, ...], ...]


def is_pubtator(path: str | Path) -> bool:
    """Return whether a mention file is PubTator (``PMID|t|title`` lines), not one mention per line."""
    text = _read_text(Path(path), "mention file")
    return any(_PUBTATOR_TEXT.match(line) for line in text.splitlines()[:50])


def read_document_mentions(path: str | Path) -> DocumentMentions:
    """Return the mentions of a PubTator file with their documents' context (chapter 14's ``link`` command).

    The format of NCBI-disease and BioRED: ``PMID|t|title`` and ``PMID|a|abstract`` lines, then one line per
    mention, ``PMID<TAB>start<TAB>end<TAB>text<TAB>type`` with an optional sixth column of gold ids (offsets index
    title + " " + abstract). Each mention gets the variants and cited ids that :func:`~course_utils.ie.
    linking_data.ncbi_task` computes, by the same functions, so ``link --recipe`` scores as the benchmarks do.
    """
    from .data import Mention, cited_omim_ids, expanded_mentions

    path = Path(path)
    titles: dict[str, str] = {}
    abstracts: dict[str, str] = {}
    rows: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(_read_text(path, "PubTator mention file").splitlines(), 1):
        if not line.strip():
            continue
        m = _PUBTATOR_TEXT.match(line)
        if m:
            (titles if m.group(2) == "t" else abstracts)[m.group(1)] = m.group(3)
            continue
        cols = line.split("\t")
        if len(cols) not in (5, 6):
            raise LinkingError(f"{path}:{lineno}: expected a PMID|t| or PMID|a| line or 5-6 tab-separated columns "
                               f"(pmid, start, end, text, type[, ids]), found {len(cols)} column(s).")
        rows.append((lineno, cols))
    texts = {pmid: f"{titles.get(pmid, '')} {abstracts.get(pmid, '')}" for pmid in titles.keys() | abstracts.keys()}
    mentions: list[Mention] = []
    for lineno, cols in rows:
        pmid, start, end, text, kind = cols[:5]
        here = f"{path}:{lineno}"
        if pmid not in texts:
            raise LinkingError(f"{here}: mention of document {pmid}, which has no {pmid}|t| or {pmid}|a| line; add "
                               "the document's title and abstract above its mentions.")
        try:
            s, e = int(start), int(end)
        except ValueError:
            raise LinkingError(f"{here}: offsets {start!r}, {end!r} are not whole numbers.") from None
        doc = texts[pmid]
        if not 0 <= s < e <= len(doc):
            raise LinkingError(f"{here}: offsets {s}-{e} fall outside document {pmid} ({len(doc)} characters).")
        if doc[s:e] != text.strip():
            raise LinkingError(f"{here}: mention {text!r} differs from the text at {s}-{e}, {doc[s:e]!r}; fix the "
                               "offsets (they index title + ' ' + abstract).")
        ids = parse_ids(cols[5], where=here)[0] if len(cols) == 6 and cols[5].strip() else ()
        mentions.append(Mention(pmid, s, e, doc[s:e], kind, ids, cols[5] if len(cols) == 6 else "", len(ids) > 1))
    if not mentions:
        raise LinkingError(f"{path} has no mention lines; after each document's |t| and |a| lines write "
                           "'pmid<TAB>start<TAB>end<TAB>text<TAB>type' per mention.")
    return DocumentMentions(tuple(m.text for m in mentions), tuple(expanded_mentions(mentions, texts)),
                            tuple(frozenset(cited_omim_ids(texts[m.doc_id])) for m in mentions),
                            tuple((m.doc_id, m.start, m.end) for m in mentions), tuple(m.ids for m in mentions))


# ------------------------------------------------------------------------------------------------------------
# Recipes: each linker the results page reports, by name, for the notebook, the command and the benchmarks.


@dataclass(frozen=True)
class LinkerRecipe:
    """One linker, fully stated (chapter 14): what ``link --recipe NAME`` and the benchmarks build.

    ``kind``: exact, tfidf, dense or combined (dense + ``tfidf_weight`` x TF-IDF); ``model``: the encoder of dense
    and combined (a manifest name or a folder saved by ``train``; the self-aligned rows pass their folder);
    ``context``: wrap in :class:`ContextLinker` with ``prior`` and ``citation`` (needs mentions with their
    documents for the variants and cited ids, and the training annotations' ids for the prior).
    """

    name: str
    kind: str
    description: str
    model: str = "minilm"
    pooling: str = "auto"
    tfidf_weight: float = 0.25
    context: bool = False
    prior: float = 0.1
    citation: float = 0.1

    def with_options(self, **options: Any) -> "LinkerRecipe":
        """Return the recipe with the options that are not None replaced (``link``'s overriding options)."""
        from dataclasses import replace

        return replace(self, **{k: v for k, v in options.items() if v is not None})


_FOLDS = "chosen by two-fold cross-validation over NCBI-disease training documents"
#: The linkers of chapter 14's results page. The TF-IDF weight 0.25, the prior 0.1 and the citation bonus 0.1 were
#: chosen on training folds (``benchmarks/ch14_linking.py context-crossval``), never on develop.
RECIPES: dict[str, LinkerRecipe] = {r.name: r for r in (
    LinkerRecipe("exact", "exact", "exact match of the normalised mention"),
    LinkerRecipe("tfidf", "tfidf", "character 2-4-gram TF-IDF"),
    LinkerRecipe("tfidf+context", "tfidf", f"TF-IDF + context (the best baseline; prior and citation {_FOLDS})",
                 context=True),
    LinkerRecipe("dense", "dense", "encoder cosine (MiniLM unless --model)"),
    LinkerRecipe("dense+context", "dense", "encoder cosine + context", context=True),
    LinkerRecipe("dense+tfidf", "combined", f"encoder + 0.25 TF-IDF (weight {_FOLDS})"),
    LinkerRecipe("dense+tfidf+context", "combined",
                 f"encoder + 0.25 TF-IDF + context (the page's self-aligned rows with --model FOLDER; weight, prior "
                 f"and citation {_FOLDS})", context=True),
)}


def recipe(name: str, **options: Any) -> LinkerRecipe:
    """Return the recipe ``name`` of :data:`RECIPES` with ``options`` (not None) replacing its settings."""
    if name not in RECIPES:
        raise LinkingError(f"No linker recipe {name!r}; choose one of {', '.join(RECIPES)}.")
    return RECIPES[name].with_options(**options)


def build_linker(chosen: LinkerRecipe, dictionary: Vocabulary, *, encoder: Any = None,
                 known_ids: Iterable[str] = (), sparse: "TfidfLinker | None" = None, dense: "DenseLinker | None" = None,
                 device: Any = None, show_progress: bool = True) -> Any:
    """Return the linker a recipe names over ``dictionary`` (chapter 14: notebook, command and benchmarks).

    ``encoder``: an already loaded ``(tokenizer, model)`` (else ``chosen.model`` is loaded); ``known_ids``: the
    training annotations' ids, for the context prior; ``sparse`` and ``dense``: a TF-IDF linker and an embedded
    dense linker of the same dictionary to reuse (a benchmark scores several recipes on one embedding).
    """
    for given in (sparse, dense):
        if given is not None and given.vocabulary.names != dictionary.names:
            raise LinkingError(f"Recipe {chosen.name!r}: a linker to reuse must search the same dictionary.")
    if chosen.kind not in ("exact", "tfidf", "dense", "combined"):
        raise LinkingError(f"Recipe {chosen.name!r}: unknown kind {chosen.kind!r} (exact, tfidf, dense, combined).")
    if chosen.kind == "exact":
        if chosen.context:
            raise LinkingError(f"Recipe {chosen.name!r}: exact match has no scores to add context to.")
        return ExactMatchLinker(dictionary)
    tfidf = sparse if sparse is not None else (TfidfLinker(dictionary) if chosen.kind in ("tfidf", "combined")
                                               else None)
    if chosen.kind == "tfidf":
        base: Any = tfidf
    elif dense is not None:
        base = dense if chosen.kind == "dense" else CombinedLinker(dense, tfidf, chosen.tfidf_weight)
    else:
        how = _resolve_pooling(chosen.pooling, chosen.model)
        if encoder is None:
            from ...text.pretrained import load_encoder

            encoder = load_encoder(chosen.model, device=device)
        base = DenseLinker(dictionary, encoder, pooling=how, show_progress=show_progress)
        if chosen.kind == "combined":
            base = CombinedLinker(base, tfidf, chosen.tfidf_weight)
    if chosen.context:
        return ContextLinker(base, known_ids=frozenset(known_ids), prior=chosen.prior, citation=chosen.citation)
    return base


def _device(choice: str | None) -> Any:
    """Return the device of ``--device`` (or COURSE_DEVICE, else the GPU), as a command-line error if unavailable."""
    from ...device import pick_device

    try:
        return pick_device(choice)
    except (ValueError, RuntimeError) as exc:
        raise LinkingError(f"--device {choice!r}: {exc}") from None


def _resolve_pooling(choice: str, model: str) -> str:
    return model_pooling(model) if choice == "auto" else choice


_TRAIN_EPILOG = """\
Several GPUs (data parallel, one process per GPU; --batch-size stays the global batch, so the steps are those of
one process):
  torchrun --standalone --nproc_per_node 4 -m course_utils.ie.linking train --pairs pairs.tsv \\
      --model biomedbert --out aligned/
Every process embeds its share of each batch; the shares are gathered with their gradients, so hard-pair mining
and the multi-similarity loss see the whole global batch, as on one GPU."""

_LINK_EPILOG = "recipes (--recipe NAME; --linker, --model, --tfidf-weight, --prior, --citation override them):\n" + \
    "\n".join(f"  {r.name:22s} {r.description}" for r in RECIPES.values()) + """

Mentions: one per line, or a PubTator file (PMID|t|title, PMID|a|abstract, then
PMID<TAB>start<TAB>end<TAB>text<TAB>type[<TAB>ids] per mention), which gives each mention its document: the
context recipes need it (abbreviations expanded in their abstract, cited OMIM ids)."""

_POOLING_HELP = ("how a name becomes one vector: 'cls' (the [CLS] vector, SapBERT's recipe) or 'mean' (the mean "
                 "of the token vectors, MiniLM's); 'auto' (default): what the model was trained with (recorded "
                 "by `train`, or known for minilm, sapbert, biomedbert)")


def _link_arguments(link: argparse.ArgumentParser) -> None:
    link.add_argument("--dictionary", required=True, type=Path, help="TSV: id<TAB>name per line")
    link.add_argument("--mentions", required=True, type=Path,
                      help="text file with one mention per line, or a PubTator file (mentions with their documents)")
    link.add_argument("--recipe", default="dense", choices=tuple(RECIPES), help="a named linker (default: dense)")
    link.add_argument("--linker", choices=("exact", "tfidf", "dense", "combined"), default=None,
                      help="override the recipe's kind")
    link.add_argument("--model", default=None,
                      help="encoder: 'minilm' (default), a model manifest fetched with `python -m course_utils.data "
                           "fetch NAME` (sapbert, biomedbert), or a folder saved by `train`")
    link.add_argument("--pooling", choices=("auto", "cls", "mean"), default=None, help=_POOLING_HELP)
    link.add_argument("--tfidf-weight", type=float, default=None, help="override the TF-IDF weight of combined")
    link.add_argument("--prior", type=float, default=None, help="override the context prior for --known-ids")
    link.add_argument("--citation", type=float, default=None, help="override the context bonus for cited OMIM ids")
    link.add_argument("--known-ids", type=Path, default=None,
                      help="context recipes: TSV id<TAB>name of the training annotations; their ids get the prior "
                           "(e.g. the pairs file of `train`)")
    link.add_argument("--top-k", type=positive_int, default=5)
    link.add_argument("--out", type=Path, default=None, help="TSV output (default: standard output)")


def _train_arguments(train: argparse.ArgumentParser) -> None:
    train.add_argument("--pairs", required=True, type=Path,
                       help="TSV: id<TAB>name per line; names sharing an id are synonyms")
    train.add_argument("--model", default="minilm", help="encoder to start from (as for `link`)")
    train.add_argument("--out", required=True, type=Path, help="folder for the trained encoder (must not exist)")
    train.add_argument("--pooling", choices=("auto", "cls", "mean"), default="auto",
                       help=_POOLING_HELP + "; a model with none recorded trains with 'cls'. Recorded in --out.")
    train.add_argument("--epochs", type=positive_int, default=1)
    train.add_argument("--batch-size", type=positive_int, default=64,
                       help="synonym pairs per step, over all processes (default 64)")
    train.add_argument("--learning-rate", type=float, default=2e-5)
    train.add_argument("--weight-decay", type=float, default=0.01)
    train.add_argument("--max-steps", type=positive_int, default=None, help="stop after this many steps")
    train.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw",
                       help="AdamW (default) or plain SGD")
    train.add_argument("--seed", type=int, default=1234)
    train.add_argument("--dictionary", type=Path, default=None,
                       help="TSV id<TAB>name: the dictionary that --dictionary-negatives searches")
    train.add_argument("--dictionary-negatives", type=non_negative_int, default=0, metavar="K",
                       help="each pair brings one of its anchor's K nearest dictionary names of another id (needs "
                            "--dictionary; default 0: in-batch mining only)")


def _score_arguments(score: argparse.ArgumentParser) -> None:
    score.add_argument("--predictions", required=True, type=Path, help="the TSV written by `link`")
    score.add_argument("--gold", required=True, type=Path,
                       help="TSV mention<TAB>ids per line, or the PubTator file (with ids) that `link` read")


def main(argv: list[str] | None = None) -> int:
    """Run the linking commands: ``link`` mentions to top-k ids, ``train`` an encoder, ``score`` predictions.

    ``train`` runs data-parallel under ``torchrun --standalone --nproc_per_node N -m course_utils.ie.linking
    train ...`` (chapter 14). Bad input: one line naming the file, line or id and what to do, exit status 2.
    """
    verbs = [
        Verb("link", "link each mention to its top-k concept ids and names", _cmd_link, _link_arguments,
             epilog=_LINK_EPILOG, device=True),
        Verb("train", "self-align an encoder on synonym pairs (TSV: id<TAB>name per line)", _cmd_train,
             _train_arguments, epilog=_TRAIN_EPILOG, device=True),
        Verb("score", "score a `link` output against gold ids", _cmd_score, _score_arguments),
    ]
    return run_command("python -m course_utils.ie.linking", "Entity linking by nearest names (chapter 14).", verbs,
                       argv)


def _check_out_file(out: Path | None) -> None:
    if out is None:
        return
    if out.is_dir():
        raise LinkingError(f"--out {out} is a folder; give a file name, e.g. {out / 'links.tsv'}.")
    if not out.parent.is_dir():
        raise LinkingError(f"The folder of --out, {out.parent}, does not exist; create it or choose another.")


def _cmd_link(args: argparse.Namespace) -> int:
    vocab = read_dictionary_tsv(args.dictionary)
    chosen = recipe(args.recipe, kind=args.linker, model=args.model, pooling=args.pooling,
                    tfidf_weight=args.tfidf_weight, prior=args.prior, citation=args.citation)
    documents = read_document_mentions(args.mentions) if is_pubtator(args.mentions) else None
    mentions = list(documents.queries) if documents else read_mention_lines(args.mentions)
    if chosen.context and documents is None:
        raise LinkingError(f"Recipe {chosen.name!r} uses each mention's abstract, but {args.mentions} is one mention "
                           "a line; pass a PubTator file (PMID|t|, PMID|a| lines, then the mentions) or a recipe "
                           "without context.")
    known = read_dictionary_tsv(args.known_ids).ids if args.known_ids is not None else ()
    if chosen.context and args.known_ids is None:
        print("note: no --known-ids, so the context prior favours no id", file=sys.stderr)
    _check_out_file(args.out)
    device = _device(args.device) if chosen.kind in ("dense", "combined") else None
    linker = build_linker(chosen, vocab, known_ids=known, device=device)
    if isinstance(linker, ContextLinker):
        ranking = linker.rank(mentions, k=args.top_k, variants=list(documents.variants), cited=list(documents.cited))
    else:
        ranking = linker.rank(mentions, k=args.top_k)
    where = documents.where if documents else [()] * len(mentions)
    rows = [(m, rank + 1, cid, name, f"{score:.4f}", *spot) for m, ids, names, scores, spot in
            zip(mentions, ranking.ids, ranking.names, ranking.scores, where)
            for rank, (cid, name, score) in enumerate(zip(ids, names, scores))]
    header = ("mention", "rank", "id", "name", "score") + (("document", "start", "end") if documents else ())
    if args.out is None:
        writer = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return 0
    tmp = args.out.with_name(args.out.name + ".tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        tmp.replace(args.out)
    finally:
        tmp.unlink(missing_ok=True)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from ...distributed import barrier, init_distributed, main_process_first, shutdown
    from ...text.pretrained import load_encoder
    from .self_align import SelfAlignSettings, save_encoder, self_align, synonym_pairs

    vocab = read_dictionary_tsv(args.pairs)
    if not synonym_pairs(list(zip(vocab.names, vocab.ids)), max_pairs_per_concept=1):
        raise LinkingError(f"{args.pairs} has no synonyms: no id has two different names, so there is no pair to "
                           "align; add rows that give an id a second name (id<TAB>other name).")
    if args.dictionary_negatives > 0 and args.dictionary is None:
        raise LinkingError("--dictionary-negatives K > 0 needs a --dictionary to search.")
    dictionary = read_dictionary_tsv(args.dictionary) if args.dictionary is not None else None
    if args.out.exists():
        raise LinkingError(f"{args.out} exists; choose a new folder (a trained model is never overwritten).")
    if not args.out.parent.is_dir():
        raise LinkingError(f"The folder of --out, {args.out.parent}, does not exist; create it or choose another.")
    if args.pooling == "auto":
        try:
            pooling = model_pooling(args.model)
        except LinkingError:
            pooling = "cls"  # SapBERT's recipe, for a model that was never trained to embed names
    else:
        pooling = args.pooling
    ctx = init_distributed(_device(args.device))  # one process without torchrun; under torchrun, its local GPU
    try:
        with main_process_first(ctx):
            encoder = load_encoder(args.model, device=ctx.device)
        settings = SelfAlignSettings(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                                     weight_decay=args.weight_decay, seed=args.seed, pooling=pooling,
                                     max_steps=args.max_steps, optimizer=args.optimizer,
                                     dictionary_negatives=args.dictionary_negatives)
        history = self_align(encoder, list(zip(vocab.names, vocab.ids)), settings, dictionary=dictionary, context=ctx)
        if ctx.is_main:
            save_encoder(encoder, args.out, pooling=pooling,
                         details={"base_model": str(args.model), "steps": history.steps, "processes": ctx.world_size,
                                  "batch_size": args.batch_size, "epochs": args.epochs,
                                  "learning_rate": args.learning_rate, "weight_decay": args.weight_decay,
                                  "optimizer": args.optimizer, "seed": args.seed,
                                  "dictionary_negatives": args.dictionary_negatives,
                                  "trained_by": "python -m course_utils.ie.linking train"})
            print(f"trained {history.steps} steps on {ctx.world_size} process(es), final loss "
                  f"{history.losses[-1]:.4f}; saved to {args.out} ({pooling} pooling)")
        barrier(ctx)
    finally:
        shutdown(ctx)
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    pred_text = _read_text(args.predictions, "prediction file written by `link`")
    lines = pred_text.splitlines()
    if not lines or not lines[0].startswith("mention\trank\tid"):
        raise LinkingError(f"{args.predictions}:1: not a `link` output (its header 'mention<TAB>rank<TAB>id...' is "
                           "missing); pass the file written by `link --out`.")
    ranked: dict[Any, list[str]] = {}
    by_place = lines[0].rstrip().endswith("document\tstart\tend")
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < (8 if by_place else 3):
            raise LinkingError(f"{args.predictions}:{lineno}: expected the columns of `link` (mention, rank, id, ...).")
        key = (cols[5], cols[6], cols[7]) if by_place else cols[0]
        ranked.setdefault(key, []).append(cols[2])
    gold_rows: list[tuple[Any, tuple[str, ...]]] = []
    if is_pubtator(args.gold):
        documents = read_document_mentions(args.gold)
        for (doc, s, e), q, ids in zip(documents.where, documents.queries, documents.gold):
            if not ids:
                raise LinkingError(f"{args.gold}: mention {q!r} of document {doc} at {s}-{e} has no gold ids; give "
                                   "every mention line a sixth column of ids.")
            gold_rows.append(((doc, str(s), str(e)) if by_place else q, ids))
    else:
        for lineno, line in enumerate(_read_text(args.gold, "gold file (mention<TAB>ids)").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 2:
                raise LinkingError(f"{args.gold}:{lineno}: expected 'mention<TAB>ids', found {len(cols)} column(s).")
            ids, _ = parse_ids(cols[1], where=f"{args.gold}:{lineno}")
            gold_rows.append((cols[0].strip(), ids))
    if not gold_rows:
        raise LinkingError(f"{args.gold} has no gold rows; write one 'mention<TAB>ids' line per mention.")
    missing = [m for m, _ in gold_rows if m not in ranked]
    if missing:
        raise LinkingError(f"{len(missing)} gold mentions have no prediction in {args.predictions}, e.g. "
                           f"{missing[0]!r}; run `link` on the same mentions.")
    r = [ranked[m] for m, _ in gold_rows]
    g = [ids for _, ids in gold_rows]
    depth = max(len(x) for x in r)
    at5 = (f"Acc@5 {accuracy_at_k(r, g, 5):.4f}" if depth >= 5
           else f"Acc@{depth} {accuracy_at_k(r, g, depth):.4f} (`link` kept {depth} ids a mention)")
    print(f"mentions {len(g)}  Acc@1 {accuracy_at_k(r, g, 1):.4f}  {at5}  (lenient: any gold id)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
