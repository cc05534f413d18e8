"""Word vectors: a vocabulary beside a matrix, cosine neighbours, and a similarity-set score (chapters 8-11).

Every way the course makes word vectors (chapter 8 counts and SVD, chapter 9 skip-gram, chapter 10 BERT's
contextual vectors averaged per word) ends in the same small object, :class:`WordVectors`, so that chapter 11
can put them side by side. Vectors are stored as float32; neighbours use cosine similarity.

:func:`evaluate_similarity` scores vectors against a human-rated similarity set (UMNSRS, MayoSRS,
Bio-SimLex): Spearman's rho between the ratings and the cosines over the pairs the vectors cover, with the
coverage reported beside it, because a score on 40 % of the pairs is not the score on the set.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CourseError

__all__ = [
    "VectorsError",
    "UnknownWordError",
    "WordVectors",
    "SimilarityResult",
    "PHRASE_POLICIES",
    "phrase_vector",
    "evaluate_similarity",
    "CategoryResult",
    "category_purity",
    "word_categories",
]

PHRASE_POLICIES = ("average", "skip")


class VectorsError(CourseError, ValueError):
    """Word vectors that are malformed or cannot be read (chapters 8-11)."""


class UnknownWordError(VectorsError, KeyError):
    """A word that is not in the vectors' vocabulary (chapters 8-11)."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True, eq=False, repr=False)
class WordVectors:
    """Return-type of every embedding method of Part II: ``vocab`` (V words), ``matrix`` (V x d float32), ``name``.

    Chapter 8 introduces it. ``index`` maps a word to its row; ``word in vectors`` tests membership;
    :meth:`vector` returns a row; :meth:`neighbours` the ``k`` nearest words by cosine similarity.
    """

    vocab: tuple[str, ...]
    matrix: np.ndarray
    name: str = "vectors"
    index: dict[str, int] = field(init=False, repr=False)
    _unit: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        vocab = tuple(str(w) for w in self.vocab)
        matrix = np.asarray(self.matrix)
        if matrix.ndim != 2:
            raise VectorsError(
                f"Word vectors {self.name!r}: the matrix must be 2-D (words x dimensions), got shape {matrix.shape}."
            )
        if matrix.shape[0] != len(vocab):
            raise VectorsError(
                f"Word vectors {self.name!r}: {len(vocab)} words but {matrix.shape[0]} matrix rows; "
                "give one row per vocabulary word, in the same order."
            )
        index: dict[str, int] = {}
        for row, word in enumerate(vocab):
            if word in index:
                raise VectorsError(
                    f"Word vectors {self.name!r}: the word {word!r} appears twice (rows {index[word]} and {row}); "
                    "a vocabulary lists each word once."
                )
            index[word] = row
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if not np.all(np.isfinite(matrix)):
            bad = int(np.argwhere(~np.isfinite(matrix))[0, 0])
            raise VectorsError(
                f"Word vectors {self.name!r}: row {bad} ({vocab[bad]!r}) holds NaN or infinity; "
                "check the method that produced it (a division by a zero count?)."
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit = matrix / np.where(norms > 0, norms, 1.0)
        object.__setattr__(self, "vocab", vocab)
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "_unit", unit.astype(np.float32))

    # ------------------------------------------------------------------ basics
    def __repr__(self) -> str:
        return f"WordVectors(name={self.name!r}, words={len(self.vocab):,}, dim={self.dim})"

    def __len__(self) -> int:
        return len(self.vocab)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    @property
    def dim(self) -> int:
        """Return the number of dimensions d."""
        return int(self.matrix.shape[1])

    def _row(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise UnknownWordError(
                f"{word!r} is not in the vocabulary of {self.name!r} ({len(self.vocab):,} words); "
                "check its spelling and case, or test `word in vectors` first."
            ) from None

    def vector(self, word: str) -> np.ndarray:
        """Return the vector of ``word`` (float32, shape (d,)); :class:`UnknownWordError` if absent."""
        return self.matrix[self._row(word)]

    def unit_vector(self, word: str) -> np.ndarray:
        """Return the vector of ``word`` scaled to length 1 (a zero vector stays zero)."""
        return self._unit[self._row(word)]

    def similarity(self, first: str, second: str) -> float:
        """Return the cosine similarity of two words (chapter 8)."""
        return float(self.unit_vector(first) @ self.unit_vector(second))

    def neighbours(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """Return the ``k`` words nearest to ``word`` by cosine, most similar first, ``word`` itself left out.

        Chapter 8. Ties are broken by vocabulary order, so the answer is deterministic.
        """
        if k < 1:
            raise VectorsError(f"neighbours(k={k}): ask for at least one neighbour.")
        row = self._row(word)
        return self.nearest_to_vector(self.matrix[row], k=k, exclude=(row,))

    def nearest_to_vector(
        self, vector: np.ndarray, k: int = 10, *, exclude: Iterable[int] = ()
    ) -> list[tuple[str, float]]:
        """Return the ``k`` words whose vectors have the highest cosine with ``vector`` (chapter 8)."""
        query = np.asarray(vector, dtype=np.float32).ravel()
        if query.shape[0] != self.dim:
            raise VectorsError(f"A query vector of length {query.shape[0]} cannot be compared with {self.dim}-d vectors.")
        norm = float(np.linalg.norm(query))
        scores = self._unit @ (query / norm if norm > 0 else query)
        excluded = np.fromiter(exclude, dtype=np.int64)
        if excluded.size:
            scores = scores.copy()
            scores[excluded] = -np.inf
        k = min(k, len(self.vocab) - excluded.size)
        if k <= 0:
            return []
        # stable sort on (-score, row) so equal scores come in vocabulary order
        order = np.lexsort((np.arange(scores.shape[0]), -scores))[:k]
        return [(self.vocab[i], float(scores[i])) for i in order]

    def subset(self, words: Iterable[str], name: str | None = None) -> WordVectors:
        """Return new vectors holding only ``words`` (in that order; all must be present)."""
        rows = [self._row(w) for w in words]
        return WordVectors(tuple(self.vocab[r] for r in rows), self.matrix[rows], name or self.name)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the vectors to ``path`` (a ``.npz`` file, written to a temporary name then renamed); return it."""
        target = Path(path)
        if target.suffix != ".npz":
            target = target.with_name(target.name + ".npz")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp.npz")
        try:
            np.savez(
                tmp,
                vocab=np.array(self.vocab, dtype=np.str_),
                matrix=self.matrix,
                name=np.array(self.name, dtype=np.str_),
            )
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WordVectors:
        """Return the vectors stored by :meth:`save` at ``path``."""
        source = Path(path)
        if not source.exists() and source.suffix != ".npz":
            source = source.with_name(source.name + ".npz")
        if not source.exists():
            raise VectorsError(f"No word-vector file at {source}; write one with `WordVectors.save(path)` first.")
        try:
            with np.load(source, allow_pickle=False) as data:
                vocab = tuple(str(w) for w in data["vocab"].tolist())
                matrix = data["matrix"]
                name = str(data["name"]) if "name" in data.files else source.stem
        except (OSError, ValueError, KeyError) as error:
            raise VectorsError(
                f"{source} is not a word-vector file written by WordVectors.save ({error}); write it again."
            ) from error
        return cls(vocab, matrix, name)


# ---------------------------------------------------------------------- similarity sets


@dataclass(frozen=True)
class SimilarityResult:
    """Return-type of :func:`evaluate_similarity` (chapters 8, 11): Spearman ``rho`` over the covered pairs."""

    rho: float
    n_covered: int
    n_total: int
    policy: str
    covered_pairs: tuple[tuple[str, str], ...] = field(repr=False, default=())
    human: tuple[float, ...] = field(repr=False, default=())
    model: tuple[float, ...] = field(repr=False, default=())

    @property
    def coverage(self) -> float:
        """Return the share of the set's pairs that were scored."""
        return self.n_covered / self.n_total if self.n_total else 0.0


def _default_tokenize(text: str) -> list[str]:
    return text.lower().split()


def phrase_vector(
    vectors: WordVectors,
    phrase: str,
    *,
    policy: str = "average",
    tokenize: Callable[[str], list[str]] | None = None,
) -> np.ndarray | None:
    """Return the vector of a similarity-set item, or ``None`` if the vectors cannot represent it (chapter 8).

    An item that is one vocabulary word is that word's vector. A multi-word item (``"renal failure"``) is,
    under ``policy="average"``, the mean of its words' unit vectors when *every* word is known; under
    ``policy="skip"`` it is not represented. An item with an unknown word is never guessed.
    """
    if policy not in PHRASE_POLICIES:
        raise VectorsError(f"Unknown phrase policy {policy!r}; use one of {', '.join(PHRASE_POLICIES)}.")
    if phrase in vectors:
        return vectors.vector(phrase)
    words = (tokenize or _default_tokenize)(phrase)
    if not words:
        return None
    if len(words) == 1:
        return vectors.vector(words[0]) if words[0] in vectors else None
    if policy == "skip" or not all(w in vectors for w in words):
        return None
    return np.mean([vectors.unit_vector(w) for w in words], axis=0)


def pair_fields(item: Any) -> tuple[str, str, float] | None:
    """Return ``(first, second, score)`` of a similarity pair given as a triple or as an object with those fields,
    or None when ``item`` is neither (chapters 8 and 11)."""
    try:
        first, second, score = item
    except (TypeError, ValueError):
        try:
            first, second, score = item.first, item.second, item.score
        except AttributeError:
            return None
    return str(first), str(second), float(score)


def _unpack(item: Any, position: int) -> tuple[str, str, float]:
    fields = pair_fields(item)
    if fields is None:
        raise VectorsError(f"Similarity pair {position}: expected (first, second, score), got {item!r}.")
    return fields


def evaluate_similarity(
    vectors: WordVectors,
    pairs: Sequence[Any],
    *,
    policy: str = "average",
    tokenize: Callable[[str], list[str]] | None = None,
) -> SimilarityResult:
    """Return Spearman's rho between human scores and cosines, with coverage (chapter 8; chapter 11 adds intervals).

    ``pairs`` holds ``(first, second, score)`` items (tuples, or objects with ``first``, ``second`` and
    ``score`` attributes). Items become vectors by :func:`phrase_vector` under ``policy``; a pair either of
    whose items has no vector is left out and counted as not covered. ``rho`` is NaN when fewer than three
    pairs are covered.
    """
    from scipy.stats import spearmanr

    pairs = list(pairs)
    human: list[float] = []
    model: list[float] = []
    covered: list[tuple[str, str]] = []
    for position, item in enumerate(pairs):
        first, second, score = _unpack(item, position)
        a = phrase_vector(vectors, first, policy=policy, tokenize=tokenize)
        b = phrase_vector(vectors, second, policy=policy, tokenize=tokenize)
        if a is None or b is None:
            continue
        na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        cosine = float(a @ b) / (na * nb) if na > 0 and nb > 0 else 0.0
        human.append(score)
        model.append(cosine)
        covered.append((first, second))
    if len(human) >= 3:
        rho = float(spearmanr(human, model).statistic)
    else:
        rho = float("nan")
    return SimilarityResult(rho, len(human), len(pairs), policy, tuple(covered), tuple(human), tuple(model))


# ---------------------------------------------------------------------- planted categories


@dataclass(frozen=True)
class CategoryResult:
    """Return-type of :func:`category_purity` (chapters 8, 9, 11)."""

    purity: float  # mean share of a word's k nearest category words that share its category
    chance: float  # the same share expected from random neighbours
    n_words: int  # category words the vectors cover
    n_total: int  # category words in the set
    per_category: dict[str, float] = field(repr=False, default_factory=dict)


def category_purity(
    vectors: WordVectors, categories: Mapping[str, Sequence[str]], k: int = 5, *, among: str = "category"
) -> CategoryResult:
    """Return k-NN category purity: how often a category word's nearest category words share its category (chapter 8).

    Only the words of ``categories`` (category -> member words) that ``vectors`` knows take part. With
    ``among="category"`` each looks for its ``k`` nearest others among the category words; ``chance`` is
    then what random neighbours would give (sum over categories of n_c (n_c - 1) / (n (n - 1))). With
    ``among="vocabulary"`` the neighbours come from the whole vocabulary (a stricter test: frequent
    function words must not crowd in), and chance is computed over the vocabulary. A word listed in two
    categories is rejected: the answer would be ambiguous.
    """
    owner: dict[str, str] = {}
    total = 0
    for category, members in categories.items():
        for word in members:
            total += 1
            if word in owner and owner[word] != category:
                raise VectorsError(
                    f"The word {word!r} is listed in categories {owner[word]!r} and {category!r}; give each word one."
                )
            if word in vectors:
                owner[word] = category
    words = sorted(owner, key=vectors.index.__getitem__)
    n = len(words)
    if n < 2 or len({owner[w] for w in words}) < 2:
        raise VectorsError(
            f"Only {n} category words of {total} are in {vectors.name!r}; purity needs words from two categories."
        )
    if among not in ("category", "vocabulary"):
        raise VectorsError(f"among={among!r}: look for neighbours among 'category' words or the whole 'vocabulary'.")
    labels = np.array([owner[w] for w in words])
    rows = np.array([vectors.index[w] for w in words])
    sizes = Counter(labels.tolist())
    if among == "category":
        k = min(k, n - 1)
        pool_labels = labels
        scores = vectors._unit[rows] @ vectors._unit[rows].T
        np.fill_diagonal(scores, -np.inf)
        chance = sum(c * (c - 1) for c in sizes.values()) / (n * (n - 1))
    else:
        size = len(vectors)
        k = min(k, size - 1)
        pool_labels = np.full(size, "", dtype=object)
        pool_labels[rows] = labels
        scores = vectors._unit[rows] @ vectors._unit.T
        scores[np.arange(n), rows] = -np.inf
        chance = sum(c * (c - 1) for c in sizes.values()) / (n * (size - 1))
    nearest = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    same = (pool_labels[nearest] == labels[:, None]).mean(axis=1)
    per_category = {c: float(same[labels == c].mean()) for c in sorted(sizes)}
    return CategoryResult(float(same.mean()), float(chance), n, total, per_category)


def word_categories(corpus: str) -> tuple[dict[str, tuple[str, ...]], str]:
    """Return the word categories chapters 8 and 9 score vectors against, and a short name for them (chapters 8-9).

    ``corpus`` is the profile's (``settings.corpus``). For ``"synthetic"`` (smoke) they are the synthetic corpus's
    planted categories (``corpus.CATEGORIES``), known by construction. For real text (``"cord19"`` in lab and full,
    ``"real"``) nothing is planted: they are Tomoko Ohta's biomedical word classes (antibiotic, cell type,
    oncogene, ...; the ``word_classes`` dataset, fetched with ``python -m course_utils.data fetch word_classes``),
    lower-cased like the course's tokens, as chapter 11 scores them. A term listed in two classes is left out.
    """
    if corpus == "synthetic":
        from .corpus import CATEGORIES

        return {name: tuple(members) for name, members in CATEGORIES.items()}, "the planted categories"
    from .readers import read_word_classes

    if corpus == "real" and os.environ.get("COURSE_REAL_DATA"):
        folder = Path(os.environ["COURSE_REAL_DATA"]) / "word_classes"
    else:
        from ..data import require_dataset

        folder = require_dataset("word_classes")
    classes = {name: tuple(dict.fromkeys(t.lower() for t in terms)) for name, terms in read_word_classes(folder).items()}
    seen = Counter(t for terms in classes.values() for t in terms)
    cleaned = {name: tuple(t for t in terms if seen[t] == 1) for name, terms in classes.items()}
    return {name: terms for name, terms in cleaned.items() if terms}, "Ohta's word classes"

