"""Evaluating word vectors (chapter 11): Spearman's rho with coverage and a bootstrap interval, methods compared
on the pairs all of them cover, one vector for a word a contextual model splits into WordPieces, and how well
vectors recover word classes.

Chapter 8's :func:`course_utils.text.vectors.evaluate_similarity` scores one set of vectors on the pairs it
covers. Two methods that cover different pairs cannot be compared that way (a rare pair is harder than a common
one), so :func:`compare_similarity` scores every method on the *intersection* of the pairs all of them cover,
each with a percentile bootstrap interval over pairs. Static vectors become a :class:`StaticEncoder`; a
transformer becomes a :class:`ContextualEncoder`, which gives every term a vector (WordPieces never run out of
vocabulary) by embedding the term on its own and averaging the last layer's vectors of its pieces. The encoders
live in :mod:`course_utils.text.term_encoders` and are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .readers import EvaluationError, read_word_classes
from .term_encoders import (
    ContextualEncoder,
    StaticEncoder,
    TermEncoder,
    encoder_vectors,
    lora_adapted_folder,
    wordpiece_split,
)

__all__ = [
    "EvaluationError",
    "Pair",
    "read_word_classes",
    "rank_average",
    "spearman",
    "bootstrap_interval",
    "paired_bootstrap_difference",
    "TermEncoder",
    "StaticEncoder",
    "ContextualEncoder",
    "wordpiece_split",
    "lora_adapted_folder",
    "encoder_vectors",
    "ScoredSet",
    "score_pairs",
    "compare_similarity",
    "score_sets",
    "paired_differences",
    "neighbour_purity",
    "chance_purity",
    "compare_categories",
    "planted_pairs",
    "EvaluationData",
    "evaluation_data",
    "EVALUATION_MANIFESTS",
    "SIMILARITY_SETS",
]

#: The similarity sets chapter 11 scores on, by the names chapter 7's readers give them.
SIMILARITY_SETS = ("UMNSRS-sim", "UMNSRS-rel", "MayoSRS", "Bio-SimLex")

Pair = tuple[str, str, float]


# --- Spearman and the bootstrap -----------------------------------------------------------------------------------


def rank_average(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return the ranks 1..n of ``values``, ties sharing the average of the ranks they span (chapter 11)."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    start = 0
    while start < len(x):
        stop = start
        while stop + 1 < len(x) and sorted_x[stop + 1] == sorted_x[start]:
            stop += 1
        ranks[order[start:stop + 1]] = (start + stop) / 2 + 1  # positions start..stop hold ranks start+1..stop+1
        start = stop + 1
    return ranks


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Return Spearman's rho of ``x`` and ``y``: the Pearson correlation of their average ranks (chapter 11).

    NaN when fewer than three pairs are given or either side is constant (no ranking to compare).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise EvaluationError(f"Spearman needs two 1-D sequences of equal length; got shapes {x.shape} and {y.shape}.")
    if len(x) < 3:
        return float("nan")
    rx, ry = rank_average(x) - (len(x) + 1) / 2, rank_average(y) - (len(y) + 1) / 2
    denom = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry / denom) if denom > 0 else float("nan")


def bootstrap_interval(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    statistic: Callable[[np.ndarray, np.ndarray], float] = spearman,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Return the percentile bootstrap interval (low, high) of ``statistic(x, y)`` over resampled pairs
    (chapter 11).

    Pairs are drawn with replacement ``n_boot`` times; resamples where the statistic is undefined (NaN) are
    dropped. The interval narrows roughly as 1 / sqrt(n) with the number of pairs.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise EvaluationError(f"x has {len(x)} values and y {len(y)}; the bootstrap resamples pairs, so they must match.")
    if len(x) < 3:
        return float("nan"), float("nan")
    if not 0 < level < 1:
        raise EvaluationError(f"level must be between 0 and 1 (e.g. 0.95); got {level}.")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(x), size=(n_boot, len(x)))
    stats = np.array([statistic(x[d], y[d]) for d in draws])
    stats = stats[np.isfinite(stats)]
    if len(stats) == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


def paired_bootstrap_difference(
    human: Sequence[float] | np.ndarray,
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    statistic: Callable[[np.ndarray, np.ndarray], float] = spearman,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Return (difference, low, high): ``statistic(human, a) - statistic(human, b)`` and its paired percentile
    bootstrap interval (chapter 11).

    ``a`` and ``b`` are two methods' scores of the *same* pairs (the common pairs). Each resample draws one set of
    pair indices and recomputes both statistics on it, so what the two methods share (easy and hard pairs) cancels
    in the difference. Two marginal intervals that overlap say little; a paired interval that excludes 0 says one
    method ranks these pairs better. Resamples where either statistic is undefined are dropped. Pairs that share
    a term are not independent, so the interval is, if anything, too narrow.
    """
    human = np.asarray(human, dtype=np.float64)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not len(human) == len(a) == len(b):
        raise EvaluationError(f"human has {len(human)} values, a {len(a)} and b {len(b)}: a paired bootstrap "
                              "needs both methods' scores of the same pairs.")
    if not 0 < level < 1:
        raise EvaluationError(f"level must be between 0 and 1 (e.g. 0.95); got {level}.")
    difference = statistic(human, a) - statistic(human, b)
    if len(human) < 3:
        return float(difference), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(human), size=(n_boot, len(human)))
    diffs = np.array([statistic(human[d], a[d]) - statistic(human[d], b[d]) for d in draws])
    diffs = diffs[np.isfinite(diffs)]
    if len(diffs) == 0:
        return float(difference), float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return float(difference), float(low), float(high)


# --- similarity sets ----------------------------------------------------------------------------------------------


def _as_pair(item: Any, position: int, set_name: str) -> Pair:
    from .vectors import pair_fields

    fields = pair_fields(item)
    if fields is None:
        raise EvaluationError(f"{set_name}, pair {position}: expected (first, second, score), got {item!r}.")
    return fields


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.where(na * nb > 0, na * nb, 1.0)


@dataclass(frozen=True)
class ScoredSet:
    """One method on one similarity set: the human scores, the cosines and which pairs it covers."""

    method: str
    pairs: tuple[Pair, ...] = field(repr=False)
    cosines: np.ndarray = field(repr=False)
    covered: np.ndarray = field(repr=False)

    @property
    def coverage(self) -> float:
        """Return the share of the set's pairs both of whose terms the method represents."""
        return float(self.covered.mean()) if len(self.covered) else 0.0

    def rho(self, mask: np.ndarray | None = None) -> float:
        """Return Spearman's rho over the covered pairs (and ``mask`` when given)."""
        keep = self.covered if mask is None else self.covered & mask
        human = np.array([p[2] for p in self.pairs])
        return spearman(human[keep], self.cosines[keep])


def score_pairs(encoder: TermEncoder, pairs: Sequence[Any], *, set_name: str = "pairs") -> ScoredSet:
    """Return a :class:`ScoredSet`: the encoder's cosine for every pair it covers (chapter 11)."""
    clean = tuple(_as_pair(item, i, set_name) for i, item in enumerate(pairs))
    terms = sorted({t for p in clean for t in p[:2]})
    vecs, cov = encoder.encode(terms)
    row = {t: i for i, t in enumerate(terms)}
    a = np.array([row[p[0]] for p in clean], dtype=np.int64)
    b = np.array([row[p[1]] for p in clean], dtype=np.int64)
    if len(clean) == 0:
        return ScoredSet(encoder.name, clean, np.zeros(0), np.zeros(0, dtype=bool))
    covered = cov[a] & cov[b]
    cosines = np.where(covered, _cosines(vecs[a], vecs[b]), np.nan)
    return ScoredSet(encoder.name, clean, cosines, covered)


def score_sets(encoders: Sequence[TermEncoder], sets: Mapping[str, Sequence[Any]]) -> dict[str, list[ScoredSet]]:
    """Return, for each similarity set, every encoder's :class:`ScoredSet` (chapter 11): encode once, then compare
    with :func:`compare_similarity` and :func:`paired_differences`."""
    return {name: [score_pairs(enc, pairs, set_name=name) for enc in encoders] for name, pairs in sets.items()}


def _common(scored: Sequence[ScoredSet]) -> np.ndarray:
    return np.logical_and.reduce([s.covered for s in scored]) if scored else np.zeros(0, dtype=bool)


def compare_similarity(
    encoders: Sequence[TermEncoder],
    sets: Mapping[str, Sequence[Any]],
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    scored: Mapping[str, Sequence[ScoredSet]] | None = None,
) -> pd.DataFrame:
    """Return one row per (set, method): pairs, covered pairs, coverage, rho on the method's own covered pairs,
    and rho with a bootstrap interval on the pairs *every* method covers (chapter 11).

    The common pairs are the same for every method of a set, so those columns compare methods; the "own" column
    is what each method would report alone, on pairs of its own choosing. ``scored`` (from :func:`score_sets`)
    skips the encoding. Each interval is one method's; to compare two methods use :func:`paired_differences`.
    """
    scored = scored if scored is not None else score_sets(encoders, sets)
    rows = []
    for set_name, group in scored.items():
        common = _common(group)
        for s in group:
            human = np.array([p[2] for p in s.pairs])
            low, high = bootstrap_interval(human[common], s.cosines[common], n_boot=n_boot, level=level, seed=seed)
            rows.append({
                "set": set_name, "method": s.method, "pairs": len(s.pairs), "covered": int(s.covered.sum()),
                "coverage": s.coverage, "rho (own pairs)": s.rho(), "common pairs": int(common.sum()),
                "rho (common)": s.rho(common), "low": low, "high": high,
            })
    return pd.DataFrame(rows).set_index(["set", "method"])


def paired_differences(
    encoders: Sequence[TermEncoder],
    sets: Mapping[str, Sequence[Any]],
    *,
    pairs_of_methods: Sequence[tuple[str, str]] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    scored: Mapping[str, Sequence[ScoredSet]] | None = None,
) -> pd.DataFrame:
    """Return one row per (set, method A, method B): rho(A) - rho(B) on the pairs every method covers, with its
    paired bootstrap interval (:func:`paired_bootstrap_difference`) and whether that interval excludes 0
    (chapter 11).

    ``pairs_of_methods`` names the comparisons (default: every pair of methods, in the encoders' order).
    ``scored`` (from :func:`score_sets`) skips the encoding.
    """
    scored = scored if scored is not None else score_sets(encoders, sets)
    rows = []
    for set_name, group in scored.items():
        common = _common(group)
        by_name = {s.method: s for s in group}
        wanted = pairs_of_methods if pairs_of_methods is not None else [
            (group[i].method, group[j].method) for i in range(len(group)) for j in range(i + 1, len(group))]
        for first, second in wanted:
            if first not in by_name or second not in by_name:
                raise EvaluationError(f"{set_name}: no method named {first!r} or {second!r}; the methods are "
                                      f"{', '.join(by_name)}.")
            human = np.array([p[2] for p in by_name[first].pairs])[common]
            diff, low, high = paired_bootstrap_difference(human, by_name[first].cosines[common],
                                                          by_name[second].cosines[common], n_boot=n_boot,
                                                          level=level, seed=seed)
            rows.append({"set": set_name, "method A": first, "method B": second, "common pairs": int(common.sum()),
                         "rho A - rho B": diff, "low": low, "high": high,
                         "excludes 0": bool(np.isfinite(low) and (low > 0 or high < 0))})
    return pd.DataFrame(rows).set_index(["set", "method A", "method B"])


# --- word classes -------------------------------------------------------------------------------------------------


def neighbour_purity(x: np.ndarray, labels: Sequence[str], *, k: int = 5, metric: str = "cosine") -> float:
    """Return the mean share of each point's ``k`` nearest neighbours that carry its own label (chapter 11).

    1 when every neighbourhood is pure; for labels unrelated to the vectors it is about the chance that two
    random other points share a label. ``metric`` is ``"cosine"`` or ``"euclidean"``.
    """
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(x, dtype=np.float64)
    labels_arr = np.asarray(list(labels))
    if len(labels_arr) != x.shape[0]:
        raise EvaluationError(f"{x.shape[0]} points but {len(labels_arr)} labels; give one label per point.")
    if not 0 < k < x.shape[0]:
        raise EvaluationError(f"k must be between 1 and n - 1 = {x.shape[0] - 1}; got {k}.")
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
    elif metric != "euclidean":
        raise EvaluationError(f"Unknown metric {metric!r}; use 'cosine' or 'euclidean'.")
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    same = []
    for i, row in enumerate(idx):
        others = row[row != i][:k]
        same.append(np.mean(labels_arr[others] == labels_arr[i]))
    return float(np.mean(same))


def chance_purity(labels: Sequence[str]) -> float:
    """Return the purity random neighbours would give: the chance that another point drawn at random shares a
    point's label, averaged over points (chapter 11)."""
    values, counts = np.unique(np.asarray(list(labels)), return_counts=True)
    n = counts.sum()
    return float(sum(c * (c - 1) for c in counts) / (n * (n - 1))) if n > 1 else float("nan")


def compare_categories(
    encoders: Sequence[TermEncoder], categories: Mapping[str, Sequence[str]], *, k: int = 5
) -> pd.DataFrame:
    """Return one row per method: words covered, neighbour purity and cosine silhouette on its own covered words,
    and both again on the words *every* method covers, beside the chance purity (chapter 11)."""
    from sklearn.metrics import silhouette_score

    terms, labels = [], []
    for cat, members in categories.items():
        for t in members:
            if t.lower() not in {x.lower() for x in terms}:
                terms.append(t)
                labels.append(cat)
    encoded = [enc.encode(terms) for enc in encoders]
    common = np.logical_and.reduce([c for _, c in encoded])
    lab = np.asarray(labels)

    def scores(x: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
        if keep.sum() <= k or len(set(lab[keep])) < 2:
            return float("nan"), float("nan")
        return (neighbour_purity(x[keep], lab[keep], k=k),
                float(silhouette_score(x[keep], lab[keep], metric="cosine")))

    rows = []
    for enc, (vecs, cov) in zip(encoders, encoded):
        own_p, own_s = scores(vecs, cov)
        com_p, com_s = scores(vecs, common)
        rows.append({"method": enc.name, "words": len(terms), "covered": int(cov.sum()),
                     f"purity@{k} (own)": own_p, "silhouette (own)": own_s, "common words": int(common.sum()),
                     f"purity@{k} (common)": com_p, "silhouette (common)": com_s,
                     "chance purity (common)": chance_purity(lab[common]) if common.sum() > 1 else float("nan")})
    return pd.DataFrame(rows).set_index("method")


# --- the smoke stand-in for similarity sets -----------------------------------------------------------------------


def _synonym_pairs(synonyms: Any) -> list[tuple[str, str]]:
    if isinstance(synonyms, Mapping):
        items: list[tuple[str, str]] = []
        for a, b in synonyms.items():
            for other in ([b] if isinstance(b, str) else list(b)):
                items.append((str(a), str(other)))
        return items
    out = []
    for group in synonyms:
        group = list(group)
        out.extend((str(group[0]), str(o)) for o in group[1:])
    return out


def planted_pairs(corpus: Any, *, n_unrelated: int = 60, seed: int = 0) -> list[Pair]:
    """Return graded pairs of the synthetic corpus that stand in for the similarity sets in smoke (chapter 11):
    planted synonyms score 2, two members of the same category 1, members of different categories 0.

    ``corpus`` is chapter 7's ``SyntheticCorpus`` (``categories``, ``synonyms``); every same-category pair is
    kept and ``n_unrelated`` cross-category pairs are drawn at random.
    """
    rng = np.random.default_rng(seed)
    pairs: list[Pair] = [(a, b, 2.0) for a, b in _synonym_pairs(getattr(corpus, "synonyms", ()))]
    cats = {c: list(m) for c, m in corpus.categories.items()}
    for members in cats.values():
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                pairs.append((members[i], members[j], 1.0))
    names = sorted(cats)
    if len(names) >= 2:
        for _ in range(n_unrelated):
            c1, c2 = rng.choice(len(names), size=2, replace=False)
            a = cats[names[c1]][rng.integers(len(cats[names[c1]]))]
            b = cats[names[c2]][rng.integers(len(cats[names[c2]]))]
            pairs.append((a, b, 0.0))
    seen, unique = set(), []
    for a, b, s in pairs:
        key = tuple(sorted((a, b)))
        if a != b and key not in seen:
            seen.add(key)
            unique.append((a, b, s))
    return unique


@dataclass(frozen=True)
class EvaluationData:
    """What chapter 11 scores on: similarity sets by name, word categories, and a sentence saying what they are."""

    sets: dict[str, list[Pair]]
    categories: dict[str, tuple[str, ...]]
    description: str


#: The manifests chapter 11's lab/full path reads, in ``COURSE_DATA_DIR`` (``python -m course_utils.data fetch NAME``).
EVALUATION_MANIFESTS = ("umnsrs", "mayosrs", "bio_simlex", "word_classes")


def evaluation_data(profile: str, *, corpus: Any = None, root: str | Path | None = None,
                    n_unrelated: int = 60, seed: int = 0) -> EvaluationData:
    """Return the similarity sets and categories of a profile (chapter 11).

    ``smoke``: the synthetic corpus's planted pairs (:func:`planted_pairs`) stand in for the similarity sets and
    its planted categories for the word classes; pass the ``SyntheticCorpus`` as ``corpus``. ``lab``/``full``:
    UMNSRS-sim, UMNSRS-rel, MayoSRS and Bio-SimLex and Ohta's word classes. Without ``root`` they come from the
    folders the manifests fetch into ``COURSE_DATA_DIR`` (``umnsrs/``, ``mayosrs/``, ``bio_simlex/``,
    ``word_classes/``: :data:`EVALUATION_MANIFESTS`); a missing one raises the data layer's error naming the
    fetch command. ``root`` reads another folder holding the same files or wvlib's copies, e.g.
    ``$COURSE_REAL_DATA`` (``word_similarity/*.txt`` and ``word_classes/``).
    """
    if str(profile) == "smoke":
        if corpus is None:
            raise EvaluationError("The smoke profile scores on the synthetic corpus's planted pairs: pass corpus=.")
        return EvaluationData({"planted pairs": planted_pairs(corpus, n_unrelated=n_unrelated, seed=seed)},
                              {c: tuple(m) for c, m in corpus.categories.items()},
                              "planted pairs of the synthetic corpus (synonyms 2, same category 1, different "
                              "categories 0) and its planted categories, standing in for the similarity sets")
    from .readers import read_similarity_set, similarity_sets

    if root is None:
        from ..data import require_dataset

        folders = {name: require_dataset(name) for name in EVALUATION_MANIFESTS}
        found: dict[str, Path] = {}
        for name in ("umnsrs", "mayosrs", "bio_simlex"):
            for set_name, path in similarity_sets(folders[name]).items():
                found.setdefault(set_name, path)
        where = ", ".join(str(folders[n]) for n in ("umnsrs", "mayosrs", "bio_simlex"))
        classes_folder = folders["word_classes"]
    else:
        found = similarity_sets(root)
        where = str(root)
        classes_folder = Path(root) / "word_classes"
    missing = [n for n in SIMILARITY_SETS if n not in found]
    if missing:
        raise EvaluationError(f"{where} lacks the similarity set(s) {', '.join(missing)}: fetch them with `python -m "
                              "course_utils.data fetch umnsrs mayosrs bio_simlex`, pass root= a folder holding "
                              "word_similarity/ (like $COURSE_REAL_DATA), or run in the smoke profile.")
    sets = {n: read_similarity_set(found[n]) for n in SIMILARITY_SETS}
    categories = read_word_classes(classes_folder)
    return EvaluationData(sets, categories, f"{', '.join(SIMILARITY_SETS)} and Ohta's {len(categories)} word classes")
