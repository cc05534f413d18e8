"""An n-gram language model with add-k and interpolated Kneser-Ney smoothing; perplexity and sparsity (chapter 8).

The seed's n-gram formula, ``p(w_t | h) = C(h w_t) / C(h)``, gives probability zero to every n-gram the
training text did not contain, so held-out perplexity is infinite. Two repairs are written here:

* add-k: ``p(w | h) = (C(h w) + k) / (C(h) + k |V|)``;
* interpolated Kneser-Ney (Chen and Goodman 1999, as in Jurafsky and Martin, ch. 3): subtract a discount
  ``d`` from every seen count and give the freed mass to the next lower order, whose counts are
  *continuation* counts: the number of distinct words seen before an n-gram, not its frequency.

Sentences are padded with ``order - 1`` copies of ``<s>`` and one ``</s>``; words outside the training
vocabulary (or below ``min_count``) become ``<unk>``. The vocabulary a model predicts over holds every
known word, ``</s>`` and ``<unk>`` (``<s>`` is only ever a context).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import CourseError

__all__ = [
    "NgramError",
    "BOS",
    "EOS",
    "UNK",
    "NgramModel",
    "SparsityRow",
    "ngram_sparsity",
    "perplexity_table",
    "plot_perplexity",
]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


class NgramError(CourseError, ValueError):
    """An n-gram model setting or query that chapter 8's model cannot use."""


def _ngrams(tokens: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
    return zip(*(tokens[i:] for i in range(n)))


class NgramModel:
    """Return-type of :meth:`fit`: an n-gram model with add-k or interpolated Kneser-Ney smoothing (chapter 8).

    ``NgramModel(order=3, smoothing="kneser_ney", discount=0.75).fit(sentences)``; then
    :meth:`prob`, :meth:`logprob`, :meth:`perplexity`. ``smoothing="add_k"`` uses ``k``;
    ``smoothing="mle"`` is the seed's unsmoothed ratio (zero for unseen n-grams).
    """

    def __init__(self, order: int = 3, smoothing: str = "kneser_ney", *, k: float = 1.0, discount: float = 0.75,
                 min_count: int = 1) -> None:
        if order < 1:
            raise NgramError(f"order={order}: an n-gram model needs order 1 (unigrams) or more.")
        if smoothing not in ("kneser_ney", "add_k", "mle"):
            raise NgramError(f"Unknown smoothing {smoothing!r}; use 'kneser_ney', 'add_k' or 'mle'.")
        if smoothing == "add_k" and k <= 0:
            raise NgramError(f"k={k}: add-k smoothing needs k > 0 (k = 1 is Laplace).")
        if smoothing == "kneser_ney" and not 0 < discount < 1:
            raise NgramError(f"discount={discount}: Kneser-Ney needs 0 < d < 1 (0.75 is the usual choice).")
        self.order = order
        self.smoothing = smoothing
        self.k = k
        self.discount = discount
        self.min_count = min_count
        self.vocab: frozenset[str] = frozenset()
        # counts[n][ngram]: raw counts of n-grams (n = 1..order) in the padded training text
        self.counts: list[Counter[tuple[str, ...]]] = []
        self._fitted = False

    # ------------------------------------------------------------------ training
    def _pad(self, sentence: Sequence[str]) -> list[str]:
        words = [w if w in self.vocab else UNK for w in sentence]
        return [BOS] * (self.order - 1) + words + [EOS]

    def fit(self, sentences: Iterable[Sequence[str]]) -> NgramModel:
        """Return this model trained on tokenized ``sentences`` (chapter 8)."""
        sentences = [list(s) for s in sentences]
        frequency = Counter(w for s in sentences for w in s)
        known = {w for w, c in frequency.items() if c >= self.min_count}
        if not known:
            raise NgramError("No training words: give fit() a list of tokenized sentences.")
        if known & {BOS, EOS, UNK}:
            raise NgramError(f"The training text contains the reserved tokens {sorted(known & {BOS, EOS, UNK})}.")
        self.vocab = frozenset(known | {EOS, UNK})
        self.counts = [Counter() for _ in range(self.order + 1)]
        for sentence in sentences:
            padded = self._pad(sentence)
            for n in range(1, self.order + 1):
                self.counts[n].update(_ngrams(padded, n))
        self._prepare()
        self._fitted = True
        return self

    def with_smoothing(self, smoothing: str, *, k: float = 1.0, discount: float | None = None) -> NgramModel:
        """Return this trained model with another smoothing, sharing its counts (chapter 8).

        The counts do not depend on the smoothing, so :func:`perplexity_table` counts each order once and scores
        it four ways; the result equals a model of that smoothing fitted on the same sentences.
        """
        import copy

        self._check()
        check = NgramModel(self.order, smoothing, k=k, discount=self.discount if discount is None else discount)
        other = copy.copy(self)
        other.smoothing, other.k, other.discount = check.smoothing, check.k, check.discount
        return other

    def _prepare(self) -> None:
        # context totals and the number of distinct followers, from raw counts (highest order)
        top = self.order
        self._context_total: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(top + 1)]
        self._followers: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(top + 1)]
        # continuation counts for lower orders: N1+(. w_2..w_n) = distinct words before the (n-1)-gram
        self._cont: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(top + 1)]
        self._cont_total: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(top + 1)]
        self._cont_followers: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(top + 1)]
        for ngram, count in self.counts[top].items():
            self._context_total[top][ngram[:-1]] += count
            self._followers[top][ngram[:-1]] += 1
        for n in range(1, top):
            for ngram in self.counts[n + 1]:
                if ngram[-1] != BOS:  # (<s>, <s>) pads are contexts, never predictions
                    self._cont[n][ngram[1:]] += 1
            for ngram, cont in self._cont[n].items():
                self._cont_total[n][ngram[:-1]] += cont
                self._cont_followers[n][ngram[:-1]] += 1
        self._n_vocab = len(self.vocab)

    # ------------------------------------------------------------------ queries
    def _check(self) -> None:
        if not self._fitted:
            raise NgramError("This n-gram model has not been trained: call .fit(sentences) first.")

    def prob(self, word: str, context: Sequence[str] = ()) -> float:
        """Return ``p(word | context)``; only the last ``order - 1`` context words matter (chapter 8).

        Unknown words count as ``<unk>``; a context shorter than ``order - 1`` is padded with ``<s>``.
        """
        self._check()
        if word == BOS:
            raise NgramError("<s> is never predicted: it only starts a context.")
        word = word if word in self.vocab else UNK
        history = [w if (w in self.vocab or w == BOS) else UNK for w in context][-(self.order - 1):] if self.order > 1 else []
        history = [BOS] * (self.order - 1 - len(history)) + history
        h = tuple(history)
        if self.smoothing == "add_k":
            n = self.order
            return (self.counts[n][h + (word,)] + self.k) / (self._context_total[n][h] + self.k * self._n_vocab)
        if self.smoothing == "mle":
            total = self._context_total[self.order][h]
            return self.counts[self.order][h + (word,)] / total if total else 0.0
        return self._kn(word, h, self.order)

    def _kn(self, word: str, h: tuple[str, ...], n: int) -> float:
        """Interpolated Kneser-Ney at order ``n`` (``h`` has n - 1 words)."""
        d = self.discount
        if n == 0:
            return 1.0 / self._n_vocab
        if n == self.order:
            count = self.counts[n][h + (word,)]
            total = self._context_total[n][h]
            followers = self._followers[n][h]
        else:
            count = self._cont[n][h + (word,)]
            total = self._cont_total[n][h]
            followers = self._cont_followers[n][h]
        lower = self._kn(word, h[1:], n - 1)
        if total == 0:  # unseen context: all mass to the lower order
            return lower
        return max(count - d, 0.0) / total + d * followers / total * lower

    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        """Return the natural log of :meth:`prob` (``-inf`` for an unsmoothed zero)."""
        p = self.prob(word, context)
        return math.log(p) if p > 0 else -math.inf

    def sentence_logprob(self, sentence: Sequence[str]) -> tuple[float, int]:
        """Return the log-probability of ``sentence`` followed by ``</s>``, and the number of predicted tokens."""
        self._check()
        padded = self._pad(sentence)
        total = 0.0
        start = self.order - 1
        for position in range(start, len(padded)):
            total += self.logprob(padded[position], padded[max(0, position - self.order + 1):position])
        return total, len(padded) - start

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """Return ``exp(-mean log p)`` over every predicted token, ``</s>`` included (chapter 8); inf if any p = 0."""
        total, tokens = 0.0, 0
        for sentence in sentences:
            logp, n = self.sentence_logprob(sentence)
            total += logp
            tokens += n
        if tokens == 0:
            raise NgramError("Perplexity of no sentences: give at least one held-out sentence.")
        return math.exp(-total / tokens) if math.isfinite(total) else math.inf

    def distinct_ngrams(self, n: int) -> int:
        """Return how many distinct n-grams (padded) the training text holds."""
        self._check()
        return len(self.counts[n])


@dataclass(frozen=True)
class SparsityRow:
    """Return-type of :func:`ngram_sparsity` (chapter 8): one order's counts and unseen share."""

    order: int
    distinct: int  # distinct n-grams in training
    possible: float  # |V|^n: the n-grams a dense table would hold
    filled: float  # distinct / possible
    singletons: float  # share of distinct n-grams seen once
    unseen_heldout: float  # share of held-out n-gram tokens never seen in training


def ngram_sparsity(train: Sequence[Sequence[str]], heldout: Sequence[Sequence[str]], max_order: int = 4) -> list[SparsityRow]:
    """Return, per order 1..max_order, how sparse n-gram counts are and how many held-out n-grams are new (chapter 8).

    No padding: n-grams are taken inside each sentence, words as given.
    """
    rows = []
    vocab = len({w for s in train for w in s})
    for n in range(1, max_order + 1):
        seen: Counter[tuple[str, ...]] = Counter()
        for sentence in train:
            seen.update(_ngrams(sentence, n))
        tested = unseen = 0
        for sentence in heldout:
            for gram in _ngrams(sentence, n):
                tested += 1
                unseen += gram not in seen
        possible = float(vocab) ** n
        singles = sum(1 for c in seen.values() if c == 1)
        rows.append(SparsityRow(
            n, len(seen), possible, len(seen) / possible if possible else 0.0,
            singles / len(seen) if seen else 0.0, unseen / tested if tested else 0.0,
        ))
    return rows


def perplexity_table(
    train: Sequence[Sequence[str]],
    heldout: Sequence[Sequence[str]],
    max_order: int = 4,
    *,
    discount: float = 0.75,
    ks: Sequence[float] = (1.0, 0.01),
) -> Any:
    """Return a pandas table of held-out perplexity by order (rows) and smoothing (columns) (chapter 8).

    Columns: ``mle`` (the seed's unsmoothed formula; inf as soon as one held-out n-gram is new), ``add_<k>``
    for each k, ``kneser_ney``. Training and held-out sentences are tokenized lists; each order is counted once
    and scored each way (:meth:`NgramModel.with_smoothing`).
    """
    import pandas as pd

    from ..progress import progress

    rows = []
    for order in progress(range(1, max_order + 1), desc="n-gram orders", total=max_order):
        row: dict[str, float] = {"order": order}
        model = NgramModel(order, "kneser_ney", discount=discount).fit(train)  # counted once, scored four ways
        row["mle"] = model.with_smoothing("mle").perplexity(heldout)
        for k in ks:
            row[f"add_{k:g}"] = model.with_smoothing("add_k", k=k).perplexity(heldout)
        row["kneser_ney"] = model.perplexity(heldout)
        rows.append(row)
    return pd.DataFrame(rows).set_index("order")


def plot_perplexity(table: Any) -> Any:
    """Return a figure of held-out perplexity by n-gram order, one line per smoothing (chapter 8)."""
    import matplotlib.pyplot as plt

    from ..plotting import apply_style

    apply_style()
    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    for column in table.columns:
        points = [(o, float(v)) for o, v in zip(table.index, table[column]) if math.isfinite(float(v))]
        if not points:  # the seed's formula: infinite at every order, nothing to draw
            continue
        orders, values = zip(*points)
        ax.plot(orders, values, marker="o", label=column.replace("_", " "))
    ax.set_yscale("log")
    ax.set_xlabel("n-gram order")
    ax.set_ylabel("held-out perplexity (log scale)")
    ax.set_xticks(list(table.index))
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig
