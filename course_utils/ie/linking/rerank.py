"""Retrieve, then rerank: a learned second stage over a linker's top candidates (chapter 14).

Linking systems are usually built in two stages (BLINK, many BioNLP linkers): a fast retriever (here
:class:`~.linking.ContextLinker` over dense + 0.25 TF-IDF scores) proposes the top ``n`` concept ids of each
mention, and a second model, trained on annotated mentions, reorders them with evidence the first stage only
adds by hand-set weights. :func:`candidate_features` describes each (mention, candidate id) pair by a few
numbers (see ``FEATURE_NAMES``): the dense and sparse cosines of the id's best name for each surface form, the
first stage's score and rank, whether training annotators used the id and how often, whether the abstract cites
it, whether a name matches exactly, the id's kind (MeSH descriptor / supplementary concept / OMIM), the shape of
the mention, and optionally the cosine of a second, reference encoder (e.g. the untrained one beside the
self-aligned one). :class:`CandidateReranker` fits scikit-learn's gradient-boosted trees to say which
candidate is a gold id and ranks by that probability.

The reranker must learn from mentions linked against a dictionary that does not already contain them, as
develop mentions are: ``benchmarks/ch14_linking.py rerank`` cross-fits it on the two halves of the training
documents (each half's mentions linked against the other half's dictionary) and only then scores develop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import is_short_form, normalize_name
from .rankers import LinkingError, Ranking, _rank_from_scores

__all__ = ["FEATURE_NAMES", "CandidateSet", "candidate_features", "CandidateReranker"]

FEATURE_NAMES: tuple[str, ...] = (
    "dense, better form", "sparse, better form", "dense, as written", "dense, other form", "sparse, as written",
    "sparse, other form", "first-stage score", "gap to first-stage top", "first-stage rank", "id annotated in training",
    "log(1 + training names of id)", "log(1 + names of id)", "id cited by the abstract", "a name matches exactly",
    "best dense name is a training mention", "best sparse name is a training mention", "OMIM id",
    "MeSH descriptor", "MeSH supplementary concept", "mention is a short form", "other form differs",
    "words in mention", "word overlap with best dense name",
)
_REFERENCE_NAMES = ("reference dense, better form", "reference dense, gap to its best name")


@dataclass(frozen=True)
class CandidateSet:
    """Per query: the first stage's candidate ids (best first), their best names, a feature row each, and,
    when gold ids were given, which candidates are gold."""

    ids: tuple[tuple[str, ...], ...]
    names: tuple[tuple[str, ...], ...]
    features: tuple[np.ndarray, ...]
    labels: tuple[np.ndarray, ...] | None
    feature_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ids)

    def recall(self) -> float:
        """Return the share of queries with a gold id among their candidates (the reranker's ceiling)."""
        if self.labels is None:
            raise LinkingError("These candidates have no gold labels: build them with gold=... to measure recall.")
        return float(np.mean([bool(lab.any()) for lab in self.labels])) if self.labels else 0.0


def _check_lengths(queries: Sequence[str], **per_query: Sequence[Any] | None) -> None:
    for what, values in per_query.items():
        if values is not None and len(values) != len(queries):
            raise LinkingError(f"{len(values)} {what} for {len(queries)} queries: give one per query.")


def candidate_features(queries: Sequence[str], dense: Any, sparse: Any, *, variants: Sequence[str] | None = None,
                       cited: Sequence[Iterable[str]] | None = None, known_ids: Iterable[str] = (),
                       gold: Sequence[Sequence[str]] | None = None, reference: Any = None, n_candidates: int = 10,
                       weight: float = 0.25, prior: float = 0.1, citation: float = 0.1,
                       batch_size: int = 256) -> CandidateSet:
    """Return the first stage's top ``n_candidates`` ids per query with a feature row each (chapter 14).

    ``dense`` and ``sparse`` are linkers with ``scores`` over one dictionary (a
    :class:`~.linking.DenseLinker` and a :class:`~.linking.TfidfLinker`); the first stage is
    ``dense + weight x sparse``, each name scored by the better of the two forms (``variants``), plus ``prior`` for
    ``known_ids`` and ``citation`` for the query's ``cited`` ids, as :class:`~.linking.ContextLinker` scores.
    ``reference``: another dense linker over the same dictionary whose cosines join the features. ``gold``:
    per query its gold ids, to label the candidates for :meth:`CandidateReranker.fit` and for scoring.
    """
    if n_candidates < 1:
        raise LinkingError(f"n_candidates must be at least 1, got {n_candidates}.")
    vocabulary = dense.vocabulary
    for other, what in ((sparse, "sparse"), (reference, "reference")):
        if other is not None and list(other.vocabulary.ids) != list(vocabulary.ids):
            raise LinkingError(f"The {what} linker has another dictionary than the dense one: build both on one.")
    if len(vocabulary) == 0:
        raise LinkingError("The dictionary is empty: give at least one (name, id) row.")
    _check_lengths(queries, variants=variants, **{"cited-id sets": cited, "gold id lists": gold})
    variants = list(variants) if variants is not None else list(queries)
    cited_sets = [frozenset(c) for c in cited] if cited is not None else [frozenset()] * len(queries)
    known = set(known_ids)
    columns: dict[str, list[int]] = {}
    for j, cid in enumerate(vocabulary.ids):
        columns.setdefault(cid, []).append(j)
    from_training = np.array([s == "train mentions" for s in vocabulary.sources] if vocabulary.sources
                             else [False] * len(vocabulary))
    training_names = Counter(c for c, t in zip(vocabulary.ids, from_training) if t)
    all_names = Counter(vocabulary.ids)
    names = [normalize_name(n) for n in vocabulary.names]
    bonus = np.float32(prior) * np.array([c in known for c in vocabulary.ids], dtype=np.float32)
    ids_out: list[tuple[str, ...]] = []
    names_out: list[tuple[str, ...]] = []
    feats: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for start in range(0, len(queries), batch_size):
        qs = list(queries[start:start + batch_size])
        vs = variants[start:start + batch_size]
        d_written, d_other = dense.scores(qs), dense.scores(vs)
        s_written, s_other = sparse.scores(qs), sparse.scores(vs)
        d_best, s_best = np.maximum(d_written, d_other), np.maximum(s_written, s_other)
        ref = np.maximum(reference.scores(qs), reference.scores(vs)) if reference is not None else None
        # the context linker's rule: each name keeps the better form's combined score (not best dense + best sparse,
        # which may come from different forms)
        first = np.maximum(d_written + np.float32(weight) * s_written, d_other + np.float32(weight) * s_other) + bonus
        for i, cids in enumerate(cited_sets[start:start + batch_size]):
            cols = [j for c in cids for j in columns.get(c, ())]
            if cols:
                first[i, cols] += np.float32(citation)
        for i, (cids, cscores, _) in enumerate(_rank_from_scores(first, vocabulary, n_candidates)):
            q, v = normalize_name(qs[i]), normalize_name(vs[i])
            words = set(q.split()) | set(v.split())
            cited_here = cited_sets[start + i]
            rows, best_names = [], []
            for rank, (cid, score) in enumerate(zip(cids, cscores)):
                cols = columns[cid]
                dj = cols[int(np.argmax(d_best[i, cols]))]
                sj = cols[int(np.argmax(s_best[i, cols]))]
                best_names.append(vocabulary.names[dj])
                name_words = set(names[dj].split())
                row = [d_best[i, dj], s_best[i, sj], d_written[i, cols].max(), d_other[i, cols].max(),
                       s_written[i, cols].max(), s_other[i, cols].max(), score, cscores[0] - score, rank,
                       float(cid in known), np.log1p(training_names.get(cid, 0)), np.log1p(all_names[cid]),
                       float(cid in cited_here), float(any(names[j] in (q, v) for j in cols)),
                       float(from_training[dj]), float(from_training[sj]), float(cid.startswith("OMIM")),
                       float(cid.startswith("D")), float(cid.startswith("C")), float(is_short_form(qs[i])),
                       float(v != q), len(q.split()), len(words & name_words) / max(1, len(words | name_words))]
                if ref is not None:
                    row += [ref[i, cols].max(), ref[i, cols].max() - ref[i].max()]
                rows.append(row)
            ids_out.append(tuple(cids))
            names_out.append(tuple(best_names))
            feats.append(np.array(rows, dtype=np.float32).reshape(len(rows), -1))
            if gold is not None:
                wanted = set(gold[start + i])
                labels.append(np.array([c in wanted for c in cids], dtype=bool))
    feature_names = FEATURE_NAMES + (_REFERENCE_NAMES if reference is not None else ())
    return CandidateSet(tuple(ids_out), tuple(names_out), tuple(feats), tuple(labels) if gold is not None else None,
                        feature_names)


class CandidateReranker:
    """Gradient-boosted trees that reorder a linker's candidates (scikit-learn, seeded) (chapter 14)."""

    def __init__(self, *, max_iter: int = 200, learning_rate: float = 0.05, max_leaf_nodes: int = 15,
                 min_samples_leaf: int = 40, l2_regularization: float = 1.0, seed: int = 0) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.model = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=learning_rate,
                                                    max_leaf_nodes=max_leaf_nodes, min_samples_leaf=min_samples_leaf,
                                                    l2_regularization=l2_regularization, early_stopping=False,
                                                    random_state=seed)
        self.feature_names: tuple[str, ...] | None = None

    def fit(self, *candidate_sets: CandidateSet) -> CandidateReranker:
        """Fit on labelled candidates (several sets: e.g. the two cross-fitted halves); return self."""
        if not candidate_sets or any(s.labels is None for s in candidate_sets):
            raise LinkingError("fit needs candidates with gold labels: build them with candidate_features(..., gold=...).")
        if len({s.feature_names for s in candidate_sets}) != 1:
            raise LinkingError("The candidate sets have different features (one was built with a reference encoder).")
        x = np.concatenate([f for s in candidate_sets for f in s.features])
        y = np.concatenate([lab for s in candidate_sets for lab in s.labels or ()])
        if y.all() or not y.any():
            raise LinkingError("Every candidate has the same label: the reranker needs gold and wrong candidates.")
        self.model.fit(x, y)
        self.feature_names = candidate_sets[0].feature_names
        return self

    def rank(self, candidates: CandidateSet, k: int = 5) -> Ranking:
        """Return each query's candidates reordered by the probability of being gold, top ``k``."""
        if self.feature_names is None:
            raise LinkingError("This reranker is not fitted: call fit(...) on labelled candidates first.")
        if candidates.feature_names != self.feature_names:
            raise LinkingError("These candidates have other features than the reranker was fitted on.")
        sizes = [len(f) for f in candidates.features]
        probs = self.model.predict_proba(np.concatenate(candidates.features))[:, 1] if sum(sizes) else np.zeros(0)
        ids, scores, names = [], [], []
        start = 0
        for cids, cnames, n in zip(candidates.ids, candidates.names, sizes):
            p = probs[start:start + n]
            start += n
            order = np.argsort(-p, kind="stable")[:k]
            ids.append(tuple(cids[j] for j in order))
            scores.append(tuple(float(p[j]) for j in order))
            names.append(tuple(cnames[j] for j in order))
        return Ranking(tuple(ids), tuple(scores), tuple(names))
