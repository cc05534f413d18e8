"""Exploring word vectors (chapter 11): t-SNE maps and how much of the neighbourhoods they keep, a target word's
co-occurrence table (raw counts beside PPMI), and cosine neighbours across methods.

A t-SNE map is judged here by measurement, not by eye: :func:`knn_recall` asks, for every word, how many of its
``k`` nearest neighbours in the original space are still among its ``k`` nearest on the map (1 when all are, about
``k / (n - 1)`` for a random map), beside scikit-learn's ``trustworthiness``. :func:`run_tsne` runs openTSNE or
scikit-learn's Barnes-Hut with the *same* perplexity, iterations, exaggeration, momentum, learning rate and PCA
initialisation, so the two can be compared. openTSNE 1.0 chooses its gradient method by size: Barnes-Hut below
10,000 points (every map of the chapter), FFT-interpolated gradients from 10,000 up; exact neighbours below 1,000
points, approximate ones above.

Every function takes any "vectors" object with ``vocab`` (tuple of words), ``matrix`` (V x d) and ``index``
(word -> row), as chapter 8's ``WordVectors`` has.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..errors import CourseError

__all__ = [
    "ExploreError",
    "VectorsLike",
    "TsneResult",
    "run_tsne",
    "opentsne_methods",
    "knn_indices",
    "knn_recall",
    "trustworthiness",
    "perplexity_sweep",
    "select_words",
    "category_points",
    "plot_map",
    "plot_sweep",
    "cooccurrence_row",
    "cooccurrence_table",
    "neighbours_table",
    "ppmi_svd_vectors",
]


class ExploreError(CourseError, ValueError):
    """Input that chapter 11's exploring functions cannot use (too few points, unknown word, bad shapes)."""


class VectorsLike(Protocol):
    """What the chapter needs of a set of word vectors (chapter 8's ``WordVectors`` has it)."""

    vocab: tuple[str, ...]
    matrix: np.ndarray
    index: Mapping[str, int]


# --- t-SNE --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TsneResult:
    """A t-SNE map: the 2-D points, the settings that made it, the library and the wall time in seconds."""

    embedding: np.ndarray
    backend: str
    perplexity: float
    n_iter: int
    exaggeration_iter: int
    early_exaggeration: float
    learning_rate: float
    seconds: float


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def opentsne_methods(n_points: int) -> tuple[str, str]:
    """Return (gradient method, neighbour search) that openTSNE 1.0's automatic choice gives ``n_points`` points
    (chapter 11): Barnes-Hut below 10,000 points, FFT interpolation from 10,000; exact neighbours (scikit-learn's
    search) below 1,000 points, approximate ones (Annoy) from 1,000 (``openTSNE/tsne.py``, ``affinity.py``)."""
    if n_points < 1:
        raise ExploreError(f"A map needs points; got {n_points}.")
    gradient = "Barnes-Hut" if n_points < 10_000 else "FFT-interpolated"
    neighbours = "exact" if n_points < 1000 else "approximate (Annoy)"
    return gradient, neighbours


def run_tsne(
    x: np.ndarray,
    *,
    perplexity: float = 30.0,
    n_iter: int = 750,
    exaggeration_iter: int = 250,
    early_exaggeration: float = 12.0,
    backend: str = "opentsne",
    normalize: bool = True,
    seed: int = 1234,
    n_jobs: int = 1,
) -> TsneResult:
    """Return a :class:`TsneResult`: a 2-D t-SNE map of the rows of ``x`` (chapter 11).

    ``n_iter`` counts all iterations, the first ``exaggeration_iter`` with early exaggeration (momentum 0.5) and
    the rest without (momentum 0.8), PCA initialisation scaled to a standard deviation of 1e-4, learning rate
    ``max(n / early_exaggeration, 200)`` in openTSNE's units (scikit-learn's are four times smaller, and get
    the same step). ``backend`` is ``"opentsne"`` (its automatic choice: Barnes-Hut below 10,000
    points, FFT gradients above; exact neighbours below 1,000 points, approximate above) or ``"sklearn"``
    (Barnes-Hut, exact neighbours). With ``normalize`` the rows are scaled to unit length first,
    so Euclidean distances order neighbours as cosine similarity does.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ExploreError(f"t-SNE needs a 2-D array (points x dimensions); got shape {x.shape}.")
    n = x.shape[0]
    if n < 3 * perplexity + 2:
        raise ExploreError(
            f"Perplexity {perplexity} needs at least {math.ceil(3 * perplexity + 2)} points; got {n}. "
            "Lower the perplexity or map more words."
        )
    if not 0 < exaggeration_iter < n_iter:
        raise ExploreError(f"exaggeration_iter ({exaggeration_iter}) must be between 1 and n_iter - 1 ({n_iter - 1}).")
    data = _unit_rows(x) if normalize else x
    lr = max(n / early_exaggeration, 200.0)
    start = time.perf_counter()
    if backend == "opentsne":
        from openTSNE import TSNE as OpenTSNE

        model = OpenTSNE(
            perplexity=perplexity, learning_rate=lr, early_exaggeration_iter=exaggeration_iter,
            early_exaggeration=early_exaggeration, n_iter=n_iter - exaggeration_iter, initialization="pca",
            initial_momentum=0.5, final_momentum=0.8, n_jobs=n_jobs, random_state=seed, verbose=False,
        )
        embedding = np.asarray(model.fit(data))
    elif backend == "sklearn":
        from sklearn.manifold import TSNE

        model = TSNE(
            perplexity=perplexity, learning_rate=lr / 4, max_iter=n_iter, early_exaggeration=early_exaggeration,
            init="pca", method="barnes_hut", random_state=seed, n_jobs=n_jobs,
        )
        if exaggeration_iter != 250:
            raise ExploreError("scikit-learn's t-SNE always exaggerates for 250 iterations; use exaggeration_iter=250.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            embedding = model.fit_transform(data)
    else:
        raise ExploreError(f"Unknown t-SNE backend {backend!r}; use 'opentsne' or 'sklearn'.")
    seconds = time.perf_counter() - start
    return TsneResult(np.asarray(embedding, dtype=np.float64), backend, float(perplexity), n_iter, exaggeration_iter,
                      float(early_exaggeration), float(lr), seconds)


# --- neighbourhood preservation -----------------------------------------------------------------------------------


def knn_indices(x: np.ndarray, k: int) -> np.ndarray:
    """Return the (n, k) indices of every row's ``k`` nearest other rows by Euclidean distance (chapter 11).

    Exact search (scikit-learn's ``NearestNeighbors``); a point is never its own neighbour.
    """
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(x, dtype=np.float64)
    if not 0 < k < x.shape[0]:
        raise ExploreError(f"k must be between 1 and n - 1 = {x.shape[0] - 1}; got {k}.")
    nn = NearestNeighbors(n_neighbors=k + 1).fit(x)
    _, idx = nn.kneighbors(x)
    # drop each point itself (it may not come first when several points coincide)
    out = np.empty((x.shape[0], k), dtype=np.int64)
    for i, row in enumerate(idx):
        others = row[row != i]
        out[i] = others[:k]
    return out


def knn_recall(high: np.ndarray, low: np.ndarray, k: int = 10, *, normalize_high: bool = True) -> float:
    """Return the k-NN recall of a map: the mean fraction of each point's ``k`` nearest neighbours in ``high``
    that are also among its ``k`` nearest in ``low`` (chapter 11).

    1 means every neighbourhood survives; a map unrelated to the data scores about ``k / (n - 1)``. With
    ``normalize_high`` the high-dimensional rows are scaled to unit length (cosine neighbours), as
    :func:`run_tsne` does by default.
    """
    high = np.asarray(high, dtype=np.float64)
    low = np.asarray(low, dtype=np.float64)
    if high.shape[0] != low.shape[0]:
        raise ExploreError(f"The map has {low.shape[0]} points but the vectors {high.shape[0]}; they must match row by row.")
    a = knn_indices(_unit_rows(high) if normalize_high else high, k)
    b = knn_indices(low, k)
    hits = [len(set(ra).intersection(rb)) for ra, rb in zip(a, b)]
    return float(np.mean(hits) / k)


def trustworthiness(high: np.ndarray, low: np.ndarray, k: int = 10, *, normalize_high: bool = True) -> float:
    """Return scikit-learn's trustworthiness of a map with ``k`` neighbours (chapter 11): 1 when no point's map
    neighbours are far away in the original space, lower when the map invents neighbours."""
    from sklearn.manifold import trustworthiness as sk_trust

    high = np.asarray(high, dtype=np.float64)
    return float(sk_trust(_unit_rows(high) if normalize_high else high, np.asarray(low), n_neighbors=k))


def perplexity_sweep(
    x: np.ndarray,
    perplexities: Sequence[float],
    *,
    k: int = 10,
    labels: Sequence[str] | None = None,
    n_iter: int = 750,
    seed: int = 1234,
    backend: str = "opentsne",
    done: Mapping[float, TsneResult] | None = None,
) -> tuple[pd.DataFrame, dict[float, np.ndarray]]:
    """Return (table, maps): one t-SNE map per perplexity and, per row of the table, its k-NN recall,
    trustworthiness, wall time and, when ``labels`` are given, the category purity of the map's neighbours
    (chapter 11). ``done`` holds maps already run with the same ``x``, ``n_iter``, ``seed`` and ``backend``, by
    perplexity; they are reused instead of run again."""
    from .evaluate import neighbour_purity

    rows, maps = [], {}
    recall_random = k / (x.shape[0] - 1)
    for p in perplexities:
        res = (done or {}).get(p) or run_tsne(x, perplexity=p, n_iter=n_iter, seed=seed, backend=backend)
        maps[p] = res.embedding
        row = {"perplexity": p, f"{k}-NN recall": knn_recall(x, res.embedding, k),
               "trustworthiness": trustworthiness(x, res.embedding, k), "seconds": res.seconds}
        if labels is not None:
            row["category purity on the map"] = neighbour_purity(res.embedding, labels, k=min(5, len(x) - 1),
                                                                 metric="euclidean")
        rows.append(row)
    table = pd.DataFrame(rows).set_index("perplexity")
    table.attrs["random recall"] = recall_random
    return table, maps


# --- choosing what to map -----------------------------------------------------------------------------------------


def select_words(vectors: VectorsLike, counts: Mapping[str, int] | None, n: int, *,
                 skip: Iterable[str] = ()) -> list[str]:
    """Return the ``n`` most frequent words of ``vectors`` by ``counts`` (vocabulary order when ``counts`` is
    None), leaving out ``skip`` (for example stop words) (chapter 11)."""
    skipped = set(skip)
    words = [w for w in vectors.vocab if w not in skipped]
    if counts is not None:
        words.sort(key=lambda w: (-int(counts.get(w, 0)), w))
    return words[:n]


def category_points(vectors: VectorsLike, categories: Mapping[str, Sequence[str]], *,
                    lowercase: bool = True) -> tuple[list[str], list[str], np.ndarray]:
    """Return (words, their categories, their vectors) for the category members that ``vectors`` knows
    (chapter 11); a word listed in two categories keeps the first."""
    words, labels, rows, seen = [], [], [], set()
    for cat, members in categories.items():
        for word in members:
            w = word.lower() if lowercase else word
            if w in vectors.index and w not in seen:
                seen.add(w)
                words.append(w)
                labels.append(cat)
                rows.append(vectors.index[w])
    matrix = np.asarray(vectors.matrix)[rows] if rows else np.zeros((0, np.asarray(vectors.matrix).shape[1]))
    return words, labels, matrix


# --- figures ------------------------------------------------------------------------------------------------------


def plot_map(embedding: np.ndarray, words: Sequence[str], labels: Sequence[str] | None = None, *,
             annotate: int = 40, title: str = "", ax: Any = None) -> Any:
    """Return a matplotlib figure of a t-SNE map, coloured by ``labels`` when given, with the first
    ``annotate`` words written beside their points (chapter 11)."""
    import matplotlib.pyplot as plt

    from ..plotting import apply_style

    apply_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 5.0))
    else:
        fig = ax.figure
    emb = np.asarray(embedding)
    if labels is None:
        ax.scatter(emb[:, 0], emb[:, 1], s=8, c="#4c72b0", alpha=0.7)
    else:
        cats = list(dict.fromkeys(labels))
        cmap = plt.get_cmap("tab20" if len(cats) > 10 else "tab10")
        for i, cat in enumerate(cats):
            sel = np.array([lab == cat for lab in labels])
            ax.scatter(emb[sel, 0], emb[sel, 1], s=14, color=cmap(i % cmap.N), label=cat, alpha=0.85)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    for i, word in enumerate(words[:annotate]):
        ax.annotate(word, emb[i], fontsize=7, alpha=0.8, xytext=(2, 2), textcoords="offset points")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_sweep(maps: Mapping[float, np.ndarray], labels: Sequence[str], table: pd.DataFrame, *, k: int = 10) -> Any:
    """Return a figure with one t-SNE map per perplexity, coloured by ``labels`` ("other" in grey) and titled
    with its k-NN recall (chapter 11)."""
    import matplotlib.pyplot as plt

    from ..plotting import apply_style

    apply_style()
    fig, axes = plt.subplots(1, len(maps), figsize=(3.0 * len(maps), 3.0), squeeze=False)
    cats = [c for c in dict.fromkeys(labels) if c != "other"]
    cmap = plt.get_cmap("tab20" if len(cats) > 10 else "tab10")
    colours = ["#d0d0d0" if lab == "other" else cmap(cats.index(lab) % cmap.N) for lab in labels]
    order = np.argsort([lab != "other" for lab in labels], kind="stable")  # labelled points drawn on top
    for ax, (p, emb) in zip(axes[0], maps.items()):
        ax.scatter(emb[order, 0], emb[order, 1], s=6, c=[colours[i] for i in order])
        ax.set_title(f"perplexity {p:g}\n{k}-NN recall {table.loc[p, f'{k}-NN recall']:.2f}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


# --- co-occurrence table for a target word ------------------------------------------------------------------------


def cooccurrence_row(
    sentences: Iterable[Sequence[str]], target: str, *, window: int = 5
) -> tuple[Counter[str], Counter[str], int]:
    """Return (counts with ``target``, context totals, total pairs) for a fixed symmetric window (chapter 11).

    ``counts[c]`` is how often ``c`` occurs within ``window`` tokens of ``target``; ``totals[c]`` is how often
    ``c`` is anyone's context (the column sum of the full co-occurrence matrix); ``total`` is the number of
    (centre, context) pairs in the corpus, the sum of the whole matrix. Windows stop at sentence boundaries.
    """
    with_target: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    total = 0
    for sent in sentences:
        n = len(sent)
        for i, w in enumerate(sent):
            k = min(i, window) + min(n - 1 - i, window)  # how many centres see w as context
            totals[w] += k
            total += k
            if w == target:
                lo, hi = max(0, i - window), min(n, i + window + 1)
                with_target.update(sent[j] for j in range(lo, hi) if j != i)
    return with_target, totals, total


def cooccurrence_table(
    sentences: Iterable[Sequence[str]],
    target: str,
    *,
    window: int = 5,
    top: int = 10,
    min_count: int = 5,
    alpha: float = 1.0,
) -> pd.DataFrame:
    """Return the target word's co-occurrence table (chapter 11): the ``top`` contexts by raw count beside the
    ``top`` by PPMI, each with its count, relative frequency and PPMI.

    PPMI(t, c) = max(0, log P(t, c) / (P(t) P_alpha(c))) with the marginals of the full (symmetric) matrix;
    ``alpha`` = 0.75 smooths the context distribution as word2vec does. Contexts that occur together with the
    target fewer than ``min_count`` times are left out of the PPMI ranking (PPMI favours rare pairs).
    """
    sentences = list(sentences)
    counts, totals, total = cooccurrence_row(sentences, target, window=window)
    if not counts:
        raise ExploreError(f"The target {target!r} never occurs in the {len(sentences)} sentences given; pick a "
                           "word that does (chapter 11 uses a frequent one).")
    n_target = sum(counts.values())
    z = sum(v**alpha for v in totals.values())
    rows = []
    for c, n_tc in counts.items():
        p_c = totals[c] ** alpha / z
        pmi = math.log((n_tc / total) / ((n_target / total) * p_c))
        rows.append({"word": c, "count": n_tc, "relative frequency": n_tc / n_target, "PPMI": max(pmi, 0.0)})
    frame = pd.DataFrame(rows)
    by_count = frame.sort_values(["count", "word"], ascending=[False, True]).head(top).reset_index(drop=True)
    by_ppmi = (frame[frame["count"] >= min_count].sort_values(["PPMI", "word"], ascending=[False, True])
               .head(top).reset_index(drop=True))
    table = pd.concat({"by raw count": by_count, f"by PPMI (count >= {min_count})": by_ppmi}, axis=1)
    table.index = range(1, len(table) + 1)
    table.attrs.update({"target": target, "target pairs": n_target, "total pairs": total})
    return table


# --- neighbours across methods -----------------------------------------------------------------------------------


def neighbours_table(methods: Mapping[str, VectorsLike], targets: Sequence[str], *, k: int = 5) -> pd.DataFrame:
    """Return a table of each target's ``k`` cosine neighbours under each method, "word (cosine)" per cell, and
    "not in vocabulary" where a method does not know the target (chapter 11)."""
    rows = []
    for target in targets:
        row: dict[str, str] = {"target": target}
        for name, vectors in methods.items():
            if target not in vectors.index:
                row[name] = "not in vocabulary"
                continue
            row[name] = ", ".join(f"{w} ({s:.2f})" for w, s in _cosine_neighbours(vectors, target, k))
        rows.append(row)
    return pd.DataFrame(rows).set_index("target")


def _cosine_neighbours(vectors: VectorsLike, word: str, k: int) -> list[tuple[str, float]]:
    unit = _unit_rows(np.asarray(vectors.matrix))
    sims = unit @ unit[vectors.index[word]]
    sims[vectors.index[word]] = -np.inf
    top = np.argsort(-sims, kind="stable")[:k]
    return [(vectors.vocab[i], float(sims[i])) for i in top]


# --- chapter 8's PPMI-SVD vectors, in one call ----------------------------------------------------------------------


def ppmi_svd_vectors(
    sentences: Sequence[Sequence[str]],
    *,
    min_count: int,
    window: int,
    dim: int,
    alpha: float = 0.75,
    seed: int = 1234,
    name: str = "PPMI-SVD",
) -> Any:
    """Return chapter 8's count-based ``WordVectors`` for ``sentences``: window co-occurrence counts (windows stay
    inside a sentence), PPMI with context smoothing ``alpha``, truncated SVD to ``dim`` dimensions, U S^0.5
    (chapter 11 puts them beside the others). A named shortcut to chapter 8's ``counting.count_vectors``."""
    from . import counting

    return counting.count_vectors(sentences, min_count=min_count, window=window, dim=dim, alpha=alpha, seed=seed,
                                  name=name)
