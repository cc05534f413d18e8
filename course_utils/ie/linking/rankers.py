"""The chapter-14 linkers: each ranks a dictionary's concept ids for a mention (chapter 14).

:class:`ExactMatchLinker`, :class:`TfidfLinker` (character 2-4-gram TF-IDF), :class:`DenseLinker` (encoder
vectors, exact search batched on the device), :class:`CombinedLinker` (dense plus weighted sparse) and
:class:`ContextLinker` (abbreviations of the abstract and a prior on the training annotations' ids); names are
ranked, then collapsed to concept ids. The pooling each encoder was trained with is :func:`model_pooling`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CourseError
from .data import (
    Vocabulary,
    normalize_name,
)

__all__ = ["LinkingError", "Ranking", "ExactMatchLinker", "TfidfLinker", "DenseLinker", "CombinedLinker", "ContextLinker",
           "TRAINED_POOLING", "model_pooling"]

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


def _resolve_pooling(choice: str, model: str) -> str:
    return model_pooling(model) if choice == "auto" else choice
