"""Skip-gram with negative sampling written by the course, beside gensim's ``Word2Vec`` (chapter 9).

The course's SGNS is written the way word2vec scales, in PyTorch tensors rather than a loop over pairs:

* frequent words are **subsampled** (word2vec's keep probability ``(sqrt(f / t) + 1) * t / f`` with
  ``t = sample * total``), before windows are cut, so the window reaches past discarded words;
* the **dynamic window**: each centre word draws its own reach ``b`` from 1 to ``window``;
* **negatives** come from the unigram distribution raised to 0.75, through a lookup table;
* centres are **batched with their whole windows** (:func:`skipgram_windows`, grouped by reach), made with torch
  operations on the training device (GPU when present); each centre's ``k`` negatives serve every pair of its
  window (Ji et al.'s HogBatch), which moves about two vectors per pair through memory instead of ``k + 2``;
* **sparse updates** (:func:`window_step`): the hand-derived gradient of the loss is added to the rows that a
  batch touches (``index_add_``), with word2vec's learning rate decaying linearly from ``lr`` to ``min_lr``.
  :func:`sgd_step` is the same update for separate (centre, context, negatives) pairs, kept to teach and test.

For one pair of a target word ``t`` with input vector ``v_t``, its context ``c`` with output vector ``u_c`` and
``k`` negatives ``n`` drawn from the noise distribution, the loss is
``L = -log s(u_c . v_t) - sum_n log s(-u_n . v_t)`` (``s`` the logistic sigmoid) and its gradient

* ``dL/dv_t = (s(u_c . v_t) - 1) u_c + sum_n s(u_n . v_t) u_n``,
* ``dL/du_c = (s(u_c . v_t) - 1) v_t``, ``dL/du_n = s(u_n . v_t) v_t``;

:func:`sgns_gradients` computes it and the tests check it equals autograd's gradient of :func:`sgns_loss`.
:func:`seed_loop_sgns` is the seed project's loop (one update per pair, in Python), kept to be timed.
:func:`train_gensim` runs gensim's ``Word2Vec`` with the same settings; :func:`trained_vectors` trains (or
reuses, through :func:`course_utils.cache.cached_folder`) the profile's vectors for chapter 11.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CourseError
from .vectors import WordVectors

__all__ = [
    "SgnsError",
    "SgnsConfig",
    "Vocabulary",
    "build_vocabulary",
    "EncodedCorpus",
    "encode_corpus",
    "keep_probabilities",
    "noise_distribution",
    "NoiseSampler",
    "subsample",
    "skipgram_pairs",
    "WindowBatch",
    "skipgram_windows",
    "window_usage",
    "sgns_loss",
    "sgns_gradients",
    "sgd_step",
    "window_step",
    "Workspace",
    "SgnsResult",
    "train_sgns",
    "GensimResult",
    "train_gensim",
    "LoopTiming",
    "seed_loop_sgns",
    "CategoryScore",
    "category_recovery",
    "plot_loss",
    "sentences_of",
    "corpus_sentences",
    "torch_threads",
    "trained_vectors",
    "METHODS",
]

METHODS = ("sgns", "gensim")
_LOSS_EVERY = 4  # batches between two samples of the training loss (one batch in four is scored)
_ALGORITHM = "windows-shared-negatives"  # part of the cache key: vectors of an earlier batching are not reused
_log = logging.getLogger(__name__)


class SgnsError(CourseError, ValueError):
    """Settings or input that skip-gram training cannot use (chapter 9); the message says what to change."""


# ---------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SgnsConfig:
    """Settings shared by the course's SGNS and gensim's ``Word2Vec`` (chapter 9); word2vec's defaults.

    ``batch_size`` (pairs per update, about: windows stay whole, ``batch_size // (window + 1)`` centres per update)
    and ``chunk_tokens`` (tokens turned into windows at once) concern only the
    course's implementation; ``table_size`` is the length of the negative-sampling lookup table. ``loss_every``
    sets how often the loss curve gets a point (every that many batches, each point the mean loss per pair of
    the scored batches since the last one). ``shared_negatives`` chooses between the course's window step (the
    ``k`` negatives a centre draws serve all the pairs of its window: about ``k`` per centre instead of word2vec's
    ``k`` per pair) and word2vec's own sampling (``k`` fresh negatives for every pair, :func:`sgd_step`).
    """

    dim: int = 100
    window: int = 5
    negatives: int = 5
    min_count: int = 5
    sample: float = 1e-3
    epochs: int = 5
    lr: float = 0.025
    min_lr: float = 1e-4
    batch_size: int = 4096
    chunk_tokens: int = 1 << 20
    table_size: int = 1 << 20
    seed: int = 1234
    loss_every: int = 40  # batches between two points of the loss curve (the first batch is a point of its own)
    shared_negatives: bool = True  # k negatives per centre window (True) or k fresh ones per pair (word2vec's)

    def __post_init__(self) -> None:
        for name in ("dim", "window", "negatives", "min_count", "epochs", "batch_size", "chunk_tokens", "table_size",
                     "loss_every"):
            if int(getattr(self, name)) < 1:
                raise SgnsError(f"SgnsConfig.{name} = {getattr(self, name)!r}: it must be a positive integer.")
        if not 0 <= self.sample < 1:
            raise SgnsError(f"SgnsConfig.sample = {self.sample!r}: use 0 (no subsampling) or a small value like 1e-3.")
        if not 0 < self.min_lr <= self.lr:
            raise SgnsError(f"SgnsConfig: need 0 < min_lr <= lr, got lr={self.lr!r}, min_lr={self.min_lr!r}.")

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> SgnsConfig:
        """Return the config for a chapter's settings dataclass (chapter 9), taking every field both have."""
        names = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in vars(settings).items() if k in names}
        values.update(overrides)
        return cls(**values)


# ---------------------------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class Vocabulary:
    """Return-type of :func:`build_vocabulary` (chapter 9): words by falling count, and their counts."""

    words: tuple[str, ...]
    counts: np.ndarray  # int64, same order as words
    total_tokens: int  # every token of the corpus, including words below min_count
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {w: i for i, w in enumerate(self.words)})

    def __len__(self) -> int:
        return len(self.words)


def build_vocabulary(sentences: Iterable[Sequence[str]], min_count: int) -> Vocabulary:
    """Return the words seen at least ``min_count`` times, most frequent first, ties alphabetical (chapter 9)."""
    counter: Counter[str] = Counter()
    total = 0
    for sentence in sentences:
        counter.update(sentence)
        total += len(sentence)
    kept = sorted(((w, c) for w, c in counter.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
    if not kept:
        raise SgnsError(
            f"No word occurs at least min_count={min_count} times in {total:,} tokens; "
            "lower min_count or give a larger corpus."
        )
    words, counts = zip(*kept)
    return Vocabulary(tuple(words), np.asarray(counts, dtype=np.int64), total)


@dataclass(frozen=True)
class EncodedCorpus:
    """Return-type of :func:`encode_corpus` (chapter 9): the kept tokens as ids, and the sentence of each."""

    ids: torch.Tensor  # (n,) int64 word ids; words below min_count are dropped
    sentence: torch.Tensor  # (n,) int64 sentence number of each token
    raw_tokens: int  # every token, kept or not: the "raw words" of words/s


def encode_corpus(sentences: Sequence[Sequence[str]], vocabulary: Vocabulary, device: Any = None) -> EncodedCorpus:
    """Return the corpus as flat id and sentence-number tensors on ``device`` (chapter 9)."""
    index = vocabulary.index
    ids: list[int] = []
    sent: list[int] = []
    raw = 0
    for number, sentence in enumerate(sentences):
        raw += len(sentence)
        row = [index[w] for w in sentence if w in index]
        ids.extend(row)
        sent.extend([number] * len(row))
    dev = torch.device(device) if device is not None else torch.device("cpu")
    return EncodedCorpus(torch.tensor(ids, dtype=torch.int64, device=dev),
                         torch.tensor(sent, dtype=torch.int64, device=dev), raw)


# ---------------------------------------------------------------------------------------------- sampling


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Return word2vec's probability of keeping each occurrence of a word, ``min(1, (sqrt(f/t) + 1) t/f)``.

    Chapter 9. ``f`` is the word's count and ``t = sample * sum(counts)``; ``sample = 0`` keeps everything.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1.0) * threshold / counts)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """Return the negative-sampling distribution ``count^power / sum`` (chapter 9; word2vec uses 0.75)."""
    weights = np.asarray(counts, dtype=np.float64) ** power
    return weights / weights.sum()


class NoiseSampler:
    """Draws negatives from ``noise_distribution(counts)`` by indexing a lookup table (chapter 9).

    The table holds each word id in proportion to its noise probability (word2vec's ``unigram table``), so a
    draw is one random integer and one gather, on whatever device the table lives.
    """

    def __init__(self, counts: np.ndarray, table_size: int, device: Any = None, power: float = 0.75) -> None:
        probs = noise_distribution(counts, power)
        size = max(int(table_size), 10 * len(probs))
        # cumulative rounding keeps the table exactly table_size long and every word at its share +- 1 slot
        bounds = np.round(np.cumsum(probs) * size).astype(np.int64)
        repeats = np.diff(np.concatenate([[0], bounds]))
        table = np.repeat(np.arange(len(probs), dtype=np.int64), repeats)
        self.probabilities = probs
        self.table = torch.as_tensor(table, device=torch.device(device) if device is not None else None)

    def draw(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Return word ids of ``shape`` drawn from the noise distribution."""
        slots = torch.randint(0, self.table.numel(), shape, generator=generator, device=self.table.device)
        return self.table[slots]


def subsample(corpus: EncodedCorpus, keep: torch.Tensor, generator: torch.Generator,
              start: int = 0, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (ids, sentence numbers) of tokens ``start:stop`` that survive frequent-word subsampling (chapter 9)."""
    ids = corpus.ids[start:stop]
    sent = corpus.sentence[start:stop]
    draw = torch.rand(ids.shape, generator=generator, device=ids.device)
    mask = draw < keep[ids]
    return ids[mask], sent[mask]


def skipgram_pairs(ids: torch.Tensor, sentence: torch.Tensor, window: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (centres, contexts) of every skip-gram pair under word2vec's dynamic window (chapter 9).

    Each position draws its reach ``b`` uniformly from 1 to ``window`` and pairs with the words at most ``b``
    positions away in the same sentence, so near words are used more often than far ones (distance ``d`` with
    probability ``(window - d + 1) / window``). Everything is tensor work on the device of ``ids``.
    """
    if window < 1:
        raise SgnsError(f"window = {window}: a skip-gram window must reach at least one word.")
    n = ids.numel()
    reach = torch.randint(1, window + 1, (n,), generator=generator, device=ids.device)
    centres: list[torch.Tensor] = []
    contexts: list[torch.Tensor] = []
    for d in range(1, min(window, n - 1) + 1):
        same = sentence[:-d] == sentence[d:]
        forward = same & (reach[:-d] >= d)  # centre at i, context at i + d
        backward = same & (reach[d:] >= d)  # centre at i + d, context at i
        left, right = ids[:-d], ids[d:]
        centres += [left[forward], right[backward]]
        contexts += [right[forward], left[backward]]
    if not centres:
        empty = ids.new_empty(0)
        return empty, empty
    return torch.cat(centres), torch.cat(contexts)


@dataclass(frozen=True)
class WindowBatch:
    """Centre words that share one window reach ``r`` (chapter 9), from :func:`skipgram_windows`.

    ``centres`` (n,), ``contexts`` (n, 2r): the words at offsets -r..-1, 1..r, and ``valid`` (n, 2r): whether that
    offset is inside the centre's sentence. Only centres with at least one valid context are kept.
    """

    reach: int
    centres: torch.Tensor
    contexts: torch.Tensor
    valid: torch.Tensor


def skipgram_windows(ids: torch.Tensor, sentence: torch.Tensor, window: int,
                     generator: torch.Generator) -> list[WindowBatch]:
    """Return every centre with its whole window, grouped by the reach it drew (chapter 9).

    The same pairs as :func:`skipgram_pairs` with the same generator state (a test checks it), kept as windows:
    each position draws its reach ``b`` from 1 to ``window``; the positions that drew ``b`` form one
    :class:`WindowBatch` of ``2b`` context slots, so a batch wastes slots only at sentence ends, not on the
    offsets beyond a short reach.
    """
    if window < 1:
        raise SgnsError(f"window = {window}: a skip-gram window must reach at least one word.")
    n = ids.numel()
    reach = torch.randint(1, window + 1, (n,), generator=generator, device=ids.device)
    padded_ids = torch.nn.functional.pad(ids, (window, window))
    padded_sentence = torch.nn.functional.pad(sentence, (window, window), value=-1)
    around_ids = padded_ids.unfold(0, 2 * window + 1, 1)  # (n, 2 window + 1), a view: row i is ids[i-w : i+w+1]
    around_sentence = padded_sentence.unfold(0, 2 * window + 1, 1)
    groups: list[WindowBatch] = []
    for b in range(1, window + 1):
        columns = torch.tensor([j for j in range(window - b, window + b + 1) if j != window], device=ids.device)
        rows = torch.nonzero(reach == b).squeeze(1)
        contexts = around_ids.index_select(0, rows).index_select(1, columns)  # two gathers beat one 2-D index
        valid = around_sentence.index_select(0, rows).index_select(1, columns) == sentence[rows].unsqueeze(1)
        used = valid.any(1)
        groups.append(WindowBatch(b, ids[rows][used], contexts[used], valid[used]))
    return groups


def window_usage(window: int, n_tokens: int = 50_000, seed: int = 0) -> dict[int, tuple[float, float]]:
    """Return {distance: (share of word pairs at that distance used, expected (window - d + 1) / window)}.

    Chapter 9: measures :func:`skipgram_pairs` on one long sentence of ``n_tokens`` positions.
    """
    positions = torch.arange(n_tokens)
    centres, contexts = skipgram_pairs(positions, torch.zeros(n_tokens, dtype=torch.int64), window,
                                       torch.Generator().manual_seed(seed))
    distance = (centres - contexts).abs()
    counts = torch.bincount(distance, minlength=window + 1)
    return {d: (float(counts[d]) / (2 * (n_tokens - d)), (window - d + 1) / window) for d in range(1, window + 1)}


# ---------------------------------------------------------------------------------------------- loss and gradient


def sgns_loss(v_target: torch.Tensor, u_context: torch.Tensor, u_negatives: torch.Tensor) -> torch.Tensor:
    """Return the SGNS loss of each pair, ``-log s(u_c.v_t) - sum_n log s(-u_n.v_t)``, shape (B,) (chapter 9).

    ``v_target`` (B, d) input vectors of the targets, ``u_context`` (B, d) output vectors of their contexts,
    ``u_negatives`` (B, k, d) output vectors of the negatives.
    """
    positive = (u_context * v_target).sum(-1)
    negative = torch.bmm(u_negatives, v_target.unsqueeze(2)).squeeze(2)
    return -torch.nn.functional.logsigmoid(positive) - torch.nn.functional.logsigmoid(-negative).sum(-1)


def _scores_and_gradients(v: torch.Tensor, u_c: torch.Tensor, u_n: torch.Tensor) -> tuple[torch.Tensor, ...]:
    positive = (u_c * v).sum(-1)  # (B,)
    negative = torch.bmm(u_n, v.unsqueeze(2)).squeeze(2)  # (B, k)
    g_c = torch.sigmoid(positive) - 1.0  # dL/d(u_c . v)
    g_n = torch.sigmoid(negative)  # dL/d(u_n . v)
    grad_v = g_c.unsqueeze(1) * u_c + torch.bmm(g_n.unsqueeze(1), u_n).squeeze(1)
    grad_c = g_c.unsqueeze(1) * v
    grad_n = g_n.unsqueeze(2) * v.unsqueeze(1)
    return positive, negative, grad_v, grad_c, grad_n


def sgns_gradients(v_target: torch.Tensor, u_context: torch.Tensor,
                   u_negatives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the hand-derived gradients (dL/dv_t, dL/du_c, dL/du_n) of :func:`sgns_loss` per pair (chapter 9).

    ``dL/dv_t = (s(u_c.v_t) - 1) u_c + sum_n s(u_n.v_t) u_n``; ``dL/du_c = (s(u_c.v_t) - 1) v_t``;
    ``dL/du_n = s(u_n.v_t) v_t``. Shapes follow the inputs: (B, d), (B, d), (B, k, d).
    """
    _, _, grad_v, grad_c, grad_n = _scores_and_gradients(v_target, u_context, u_negatives)
    return grad_v, grad_c, grad_n


def sgd_step(w_in: torch.Tensor, w_out: torch.Tensor, centres: torch.Tensor, contexts: torch.Tensor,
             negatives: torch.Tensor, lr: float, *, with_loss: bool = True) -> torch.Tensor | None:
    """Apply one sparse SGD update for a batch of pairs in place; return the summed loss (chapter 9).

    Only the rows the batch touches change: ``index_add_`` adds ``-lr`` times each pair's gradient, so a word
    that occurs in several pairs of the batch receives the sum of their gradients (what plain SGD on the sum of
    the pair losses does, and what ``nn.Embedding(sparse=True)`` with ``torch.optim.SGD`` would do). A negative
    that happens to be the pair's context word is skipped, as word2vec and gensim skip it. The context and the
    negatives are handled as one (B, 1 + k) block: one gather, one batched product, one ``index_add_``.
    """
    targets = torch.cat([contexts.unsqueeze(1), negatives], dim=1)  # (B, 1 + k): the context, then negatives
    flat = targets.reshape(-1)
    v = torch.index_select(w_in, 0, centres)  # (B, d)
    u = torch.index_select(w_out, 0, flat).view(*targets.shape, -1)  # (B, 1 + k, d)
    scores = torch.bmm(u, v.unsqueeze(2)).squeeze(2)  # (B, 1 + k)
    g = torch.sigmoid(scores)  # dL/dscore: s(x) - 1 for the context, s(x) for a negative
    g[:, 0] -= 1.0
    g[:, 1:] *= negatives != contexts.unsqueeze(1)
    g.mul_(-lr)  # the step, folded into the small (B, 1 + k) block rather than the (B, 1 + k, d) updates
    w_in.index_add_(0, centres, torch.bmm(g.unsqueeze(1), u).squeeze(1))  # sum_j g_j u_j, no (B, 1 + k, d) temporary
    w_out.index_add_(0, flat, torch.bmm(g.unsqueeze(2), v.unsqueeze(1)).view(-1, v.shape[1]))  # g_j v, as one product
    if not with_loss:
        return None
    log_sigmoid = torch.nn.functional.logsigmoid
    return -(log_sigmoid(scores[:, 0]).sum() + log_sigmoid(-scores[:, 1:]).sum())


class Workspace:
    """Reusable buffers for :func:`window_step` (chapter 9).

    A batch's gathered vectors and updates are a few megabytes; allocating them afresh at every step costs more
    than the arithmetic on a CPU (the allocator hands large blocks back to the system and the next step faults
    them in again). :func:`train_sgns` keeps one workspace for its run and every step writes into it.
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, torch.dtype, torch.device], torch.Tensor] = {}

    def take(self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Return a contiguous tensor of ``shape`` backed by the buffer ``name`` (grown when too small)."""
        need = math.prod(shape)
        key = (name, dtype, device)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.numel() < need:
            buffer = torch.empty(max(need, 1), dtype=dtype, device=device)
            self._buffers[key] = buffer
        return buffer[:need].view(shape)


def window_step(w_in: torch.Tensor, w_out: torch.Tensor, centres: torch.Tensor, contexts: torch.Tensor,
                valid: torch.Tensor, negatives: torch.Tensor, lr: float, *, with_loss: bool = True,
                workspace: Workspace | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Apply one sparse SGD update for a batch of whole windows in place (chapter 9); return (summed loss, pairs).

    ``centres`` (B,), ``contexts`` and ``valid`` (B, T) from :func:`skipgram_windows`, ``negatives`` (B, k): the
    ``k`` negatives one centre draws serve every pair of its window. That is fewer negative samples than word2vec
    draws (``k`` per centre against ``k`` per pair, about a sixth at window 5), the same objective in expectation;
    it is not Ji et al.'s HogBatch, which batches the *context* words as inputs against shared output vectors.
    Each pair's loss is still ``-log s(u_c.v) - sum_n log s(-u_n.v)``, so the update is
    :func:`sgd_step` on all the window's pairs with those negatives (a test checks it), a negative that equals a
    pair's context skipped for that pair. Per centre this gathers ``1 + T + k`` vectors instead of ``T (k + 2)``
    for its ``T`` pairs taken separately. ``workspace`` keeps the large temporaries between calls.
    """
    ws = workspace if workspace is not None else Workspace()
    n, width = contexts.shape
    k = negatives.shape[1]
    dim = w_in.shape[1]
    dev, dtype = w_in.device, w_in.dtype
    targets = ws.take("targets", (n, width + k), torch.int64, dev)
    torch.cat([contexts, negatives], dim=1, out=targets)
    flat = targets.view(-1)
    v = ws.take("v", (n, dim), dtype, dev)
    torch.index_select(w_in, 0, centres, out=v)
    u = ws.take("u", (n * (width + k), dim), dtype, dev)
    torch.index_select(w_out, 0, flat, out=u)
    u3 = u.view(n, width + k, dim)
    scores = ws.take("scores", (n, width + k, 1), dtype, dev)
    torch.bmm(u3, v.unsqueeze(2), out=scores)
    scores = scores.view(n, width + k)
    mask = valid.to(dtype)
    pairs = mask.sum(1, keepdim=True)  # valid pairs of each window
    # each negative acts once for every valid pair of the window whose context is a different word
    weight = pairs - ((contexts.unsqueeze(2) == negatives.unsqueeze(1)) & valid.unsqueeze(2)).sum(1)
    g = ws.take("g", (n, width + k), dtype, dev)
    torch.sigmoid(scores, out=g)
    g[:, :width] -= 1.0
    g[:, :width] *= mask
    g[:, width:] *= weight
    g.mul_(-lr)
    grad_v = ws.take("grad_v", (n, 1, dim), dtype, dev)
    torch.bmm(g.unsqueeze(1), u3, out=grad_v)
    w_in.index_add_(0, centres, grad_v.view(n, dim))
    grad_u = ws.take("grad_u", (n, width + k, dim), dtype, dev)
    torch.bmm(g.unsqueeze(2), v.unsqueeze(1), out=grad_u)
    w_out.index_add_(0, flat, grad_u.view(-1, dim))
    if not with_loss:
        return None
    log_sigmoid = torch.nn.functional.logsigmoid
    # the loss counts every drawn negative of every valid pair, as sgd_step's does
    loss = -((log_sigmoid(scores[:, :width]) * mask).sum() + (log_sigmoid(-scores[:, width:]) * pairs).sum())
    return loss, valid.sum()


# ---------------------------------------------------------------------------------------------- training


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the ``with`` block with ``threads`` intra-op torch threads (``None``: leave as is) (chapter 9)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class SgnsResult:
    """Return-type of :func:`train_sgns` (chapter 9): vectors, loss curve, timing."""

    vectors: WordVectors
    output_vectors: np.ndarray = field(repr=False)  # the context (output) vectors u, (V, d)
    losses: tuple[float, ...]  # the loss curve: the first batch's mean loss per pair, then one mean every loss_every batches
    words_seen: tuple[int, ...]  # raw words processed when each loss was recorded
    seconds: float  # training time: subsampling, pairs, negatives and updates, every epoch
    raw_words: int  # raw tokens x epochs
    pairs: int  # (centre, context) pairs trained on, every epoch
    device: str
    config: SgnsConfig
    cpu_seconds: float = 0.0  # the process's CPU time over the same span (all its threads)

    @property
    def words_per_second(self) -> float:
        """Return raw words per second of training time (gensim's measure)."""
        return self.raw_words / self.seconds if self.seconds > 0 else float("inf")

    @property
    def words_per_cpu_second(self) -> float:
        """Return raw words per CPU second: the speed a busy, shared machine does not distort (CPU runs)."""
        return self.raw_words / self.cpu_seconds if self.cpu_seconds > 0 else float("inf")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_sgns(
    sentences: Sequence[Sequence[str]] | None,
    config: SgnsConfig,
    *,
    device: Any = None,
    threads: int | None = None,
    vocabulary: Vocabulary | None = None,
    corpus: EncodedCorpus | None = None,
    name: str = "SGNS (course)",
    show_progress: bool = False,
) -> SgnsResult:
    """Return word vectors trained by the course's batched SGNS on ``sentences`` (chapter 9).

    ``sentences`` are lists of tokens. ``device`` defaults to :func:`course_utils.device.pick_device`;
    ``threads`` sets torch's CPU threads for the run. A ready ``vocabulary`` and ``corpus`` (from
    :func:`build_vocabulary` and :func:`encode_corpus`) skip those steps, as the GPU benchmark does with a corpus
    generated on the GPU. The timing covers training only: subsampling, pair generation, negatives, updates.
    The loss curve (``losses``, ``words_seen``) has a point for the first batch, where the output vectors are still
    zero, then one every ``config.loss_every`` batches. ``config.shared_negatives=False`` trains with ``k`` fresh
    negatives per pair (word2vec's sampling, :func:`sgd_step`) instead of per window.
    """
    from ..device import pick_device

    dev = torch.device(device) if device is not None else pick_device()
    if vocabulary is None:
        if sentences is None:
            raise SgnsError("train_sgns needs sentences, or a vocabulary and an encoded corpus.")
        vocabulary = build_vocabulary(sentences, config.min_count)
    if corpus is None:
        if sentences is None:
            raise SgnsError("train_sgns needs sentences to encode, or an encoded corpus.")
        corpus = encode_corpus(sentences, vocabulary, dev)
    corpus = EncodedCorpus(corpus.ids.to(dev), corpus.sentence.to(dev), corpus.raw_tokens)
    n_tokens = corpus.ids.numel()
    if n_tokens < 2:
        raise SgnsError(f"Only {n_tokens} token(s) remain after min_count={config.min_count}; give more text.")

    with torch_threads(threads), torch.no_grad():
        gen = torch.Generator(device=dev).manual_seed(config.seed)
        init = torch.Generator().manual_seed(config.seed)
        n_words, dim = len(vocabulary), config.dim
        # word2vec's initialisation: inputs uniform in (-0.5/d, 0.5/d), outputs zero
        w_in = ((torch.rand(n_words, dim, generator=init) * 2 - 1) / dim).to(dev)
        w_out = torch.zeros(n_words, dim, device=dev)
        keep = torch.as_tensor(keep_probabilities(vocabulary.counts, config.sample), dtype=torch.float32, device=dev)
        sampler = NoiseSampler(vocabulary.counts, config.table_size, dev)
        raw_per_kept = corpus.raw_tokens / n_tokens  # learning-rate schedule runs on raw words, as gensim's
        total_raw = corpus.raw_tokens * config.epochs
        chunks = [(s, min(s + config.chunk_tokens, n_tokens)) for s in range(0, n_tokens, config.chunk_tokens)]
        losses: list[float] = []
        seen: list[int] = []
        n_pairs = 0
        bar = None
        if show_progress:
            from ..progress import progress_bar

            bar = progress_bar(config.epochs * len(chunks), desc=f"{name} on {dev.type}", unit="chunk")
        workspace = Workspace()
        per_batch = max(1, config.batch_size // (config.window + 1))  # centres per update: about batch_size pairs
        _sync(dev)
        start, cpu_start = time.perf_counter(), time.process_time()
        done_raw = 0.0
        batch_count = 0
        loss_sum = torch.zeros((), device=dev)
        loss_pairs = torch.zeros((), dtype=torch.int64, device=dev)

        def flush(raw: float) -> None:  # one point of the loss curve: the scored batches since the last point
            pairs_scored = int(loss_pairs)
            if pairs_scored:
                losses.append(float(loss_sum) / pairs_scored)
                seen.append(int(round(raw)))
            loss_sum.zero_()
            loss_pairs.zero_()

        for _epoch in range(config.epochs):
            for lo, hi in chunks:
                ids, sent = subsample(corpus, keep, gen, lo, hi)
                groups = skipgram_windows(ids, sent, config.window, gen)
                batches = [(g, b) for g, group in enumerate(groups) for b in range(0, group.centres.numel(), per_batch)]
                order = torch.randperm(len(batches), generator=gen, device=dev).tolist()  # reaches interleaved
                chunk_raw = (hi - lo) * raw_per_kept
                m = len(batches)
                for step, j in enumerate(order):
                    g, b = batches[j]
                    group = groups[g]
                    progress = (done_raw + chunk_raw * step / max(m, 1)) / total_raw
                    lr = max(config.min_lr, config.lr - (config.lr - config.min_lr) * progress)
                    c = group.centres[b:b + per_batch]
                    record = batch_count == 0 or step % _LOSS_EVERY == 0  # the curve scores one batch in four
                    contexts, valid = group.contexts[b:b + per_batch], group.valid[b:b + per_batch]
                    if config.shared_negatives:
                        negatives = sampler.draw((c.numel(), config.negatives), gen)
                        out = window_step(w_in, w_out, c, contexts, valid, negatives, lr, with_loss=record,
                                          workspace=workspace)
                    else:  # word2vec's sampling: every pair draws its own k negatives
                        pair_centres = c.unsqueeze(1).expand_as(contexts)[valid]
                        pair_contexts = contexts[valid]
                        negatives = sampler.draw((pair_contexts.numel(), config.negatives), gen)
                        loss = sgd_step(w_in, w_out, pair_centres, pair_contexts, negatives, lr, with_loss=record)
                        out = None if loss is None else (loss, valid.sum())
                    if out is not None:
                        loss_sum += out[0]
                        loss_pairs += out[1]
                    batch_count += 1
                    if batch_count == 1 or batch_count % config.loss_every == 0:
                        flush(done_raw + chunk_raw * (step + 1) / max(m, 1))
                n = sum(int(group.valid.sum()) for group in groups)
                done_raw += chunk_raw
                n_pairs += n
                if not bool(torch.isfinite(w_in).all()):
                    raise SgnsError(
                        f"{name}: training diverged (non-finite vectors) at {int(done_raw):,} raw words with lr="
                        f"{config.lr} and batch_size={config.batch_size}. Frequent words receive the sum of their "
                        "gradients over a batch: lower batch_size (or lr), or raise subsampling (smaller sample)."
                    )
                if bar is not None:
                    bar.update(1)
        flush(done_raw)  # the scored batches after the last full point
        _sync(dev)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        if bar is not None:
            bar.close()
    vectors = WordVectors(vocabulary.words, w_in.float().cpu().numpy(), name)
    return SgnsResult(vectors, w_out.float().cpu().numpy(), tuple(losses), tuple(seen), seconds,
                      corpus.raw_tokens * config.epochs, n_pairs, str(dev), config, cpu_seconds)


# ---------------------------------------------------------------------------------------------- gensim


@dataclass(frozen=True)
class GensimResult:
    """Return-type of :func:`train_gensim` (chapter 9): gensim's vectors and its training time."""

    vectors: WordVectors
    seconds: float  # Word2Vec.train only (vocabulary built before the clock starts)
    raw_words: int  # raw tokens x epochs, as gensim counts them
    workers: int

    @property
    def words_per_second(self) -> float:
        """Return raw words per second of training time."""
        return self.raw_words / self.seconds if self.seconds > 0 else float("inf")


def train_gensim(sentences: Sequence[Sequence[str]], config: SgnsConfig, *, workers: int = 1,
                 name: str = "gensim Word2Vec") -> GensimResult:
    """Return vectors from gensim's ``Word2Vec`` skip-gram with negative sampling, same settings (chapter 9).

    ``sg=1, hs=0, negative=k, window, vector_size=dim, min_count, sample, epochs, alpha=lr, min_alpha=min_lr``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from gensim.models import Word2Vec

    sentences = [list(s) for s in sentences]
    model = Word2Vec(sg=1, hs=0, negative=config.negatives, window=config.window, vector_size=config.dim,
                     min_count=config.min_count, sample=config.sample, alpha=config.lr, min_alpha=config.min_lr,
                     seed=config.seed, workers=workers)
    model.build_vocab(sentences)
    raw = sum(len(s) for s in sentences)
    start = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=config.epochs)
    seconds = time.perf_counter() - start
    kv = model.wv
    return GensimResult(WordVectors(tuple(kv.index_to_key), np.asarray(kv.vectors), name), seconds,
                        raw * config.epochs, workers)


# ---------------------------------------------------------------------------------------------- the seed's loop


@dataclass(frozen=True)
class LoopTiming:
    """Return-type of :func:`seed_loop_sgns` (chapter 9): what a loop with one update per pair costs."""

    vectors: WordVectors
    pairs: int
    raw_words: int
    seconds: float
    cpu_seconds: float = 0.0  # the process's CPU time over the same span

    @property
    def words_per_second(self) -> float:
        """Return raw words per second."""
        return self.raw_words / self.seconds if self.seconds > 0 else float("inf")

    @property
    def words_per_cpu_second(self) -> float:
        """Return raw words per CPU second (what a shared machine does not distort)."""
        return self.raw_words / self.cpu_seconds if self.cpu_seconds > 0 else float("inf")

    @property
    def pairs_per_second(self) -> float:
        """Return pairs per second."""
        return self.pairs / self.seconds if self.seconds > 0 else float("inf")


def seed_loop_sgns(sentences: Sequence[Sequence[str]], vocabulary: Vocabulary, config: SgnsConfig) -> LoopTiming:
    """Return vectors and timing from the seed project's loop: one SGNS update per pair, in Python (chapter 9).

    For each sentence, each target word, each context word in a fixed window: draw ``k`` negatives, compute the
    loss's gradient, update the three kinds of vectors. One epoch, constant learning rate, no subsampling, as
    in the seed. Correct, and slow: it exists to be timed against :func:`train_sgns`.
    """
    rng = np.random.default_rng(config.seed)
    dim, k, window, lr = config.dim, config.negatives, config.window, config.lr
    w_in = (rng.random((len(vocabulary), dim), dtype=np.float32) - 0.5) / dim
    w_out = np.zeros((len(vocabulary), dim), dtype=np.float32)
    probs = noise_distribution(vocabulary.counts)
    index = vocabulary.index
    pairs = raw = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for sentence in sentences:
        raw += len(sentence)
        ids = [index[w] for w in sentence if w in index]
        for i, target in enumerate(ids):
            for j in range(max(0, i - window), min(len(ids), i + window + 1)):
                if j == i:
                    continue
                negatives = rng.choice(len(probs), size=k, p=probs)
                v = w_in[target]
                g_c = 1.0 / (1.0 + math.exp(-float(w_out[ids[j]] @ v))) - 1.0
                g_n = 1.0 / (1.0 + np.exp(-(w_out[negatives] @ v)))
                grad_v = g_c * w_out[ids[j]] + g_n @ w_out[negatives]
                w_out[ids[j]] -= lr * g_c * v
                for n, g in zip(negatives, g_n):
                    w_out[n] -= lr * g * v
                w_in[target] -= lr * grad_v
                pairs += 1
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return LoopTiming(WordVectors(vocabulary.words, w_in, "seed loop"), pairs, raw, seconds, cpu_seconds)


# ---------------------------------------------------------------------------------------------- quality


@dataclass(frozen=True)
class CategoryScore:
    """Return-type of :func:`category_recovery` (chapter 9): neighbour purity over planted categories."""

    score: float  # mean share of a word's k nearest category words that share its category
    chance: float  # the same share for random neighbours
    n_words: int  # category words the vectors know
    n_categories: int
    k: int


def category_recovery(vectors: WordVectors, categories: Mapping[str, Iterable[str]], k: int = 5) -> CategoryScore:
    """Return how well the vectors recover word categories: mean share of same-category k-NN (chapter 9).

    Among the category words the vectors know (words in two categories are left out), each word's ``k``
    nearest others by cosine are found; the score is the mean share of them in the word's own category
    (1 = every neighbour right; ``chance`` is what random vectors give on average).
    """
    owner: dict[str, str] = {}
    clash: set[str] = set()
    for category, members in categories.items():
        for word in members:
            if word in owner and owner[word] != category:
                clash.add(word)
            owner[word] = category
    known = [w for w in owner if w not in clash and w in vectors]
    labels = np.array([owner[w] for w in known])
    n_cats = len(set(labels.tolist()))
    if len(known) <= k or n_cats < 2:
        raise SgnsError(
            f"category_recovery: only {len(known)} category words in {n_cats} categories are in the vocabulary of "
            f"{vectors.name!r}; need more than k={k} words in two categories (lower min_count or k)."
        )
    unit = np.stack([vectors.unit_vector(w) for w in known])
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    same = labels[order] == labels[:, None]
    sizes = {c: int((labels == c).sum()) for c in set(labels.tolist())}
    chance = float(np.mean([(sizes[c] - 1) / (len(known) - 1) for c in labels]))
    return CategoryScore(float(same.mean()), chance, len(known), n_cats, k)


def plot_loss(results: Mapping[str, SgnsResult]) -> Any:
    """Return a figure of the training loss per pair against raw words processed, one line per run (chapter 9)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for label, result in results.items():
        ax.plot(np.asarray(result.words_seen) / 1e3, result.losses, marker="o", markersize=3, label=label)
    ax.set_xlabel("raw words processed (thousands)")
    ax.set_ylabel("mean SGNS loss per pair")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------- corpora and cache


def sentences_of(texts: Iterable[str]) -> list[list[str]]:
    """Return every sentence of ``texts`` as a list of word tokens (chapter 7's tokenizer; chapter 9)."""
    from .tokenize import sentences, words

    out: list[list[str]] = []
    for text in texts:
        for sentence in sentences(text):
            tokens = words(sentence)
            if tokens:
                out.append(tokens)
    return out


def corpus_sentences(settings: Any) -> list[list[str]]:
    """Return the profile's corpus (chapter 7's ``corpus_documents``) split into tokenized sentences (chapter 9)."""
    from .corpus import corpus_documents

    return sentences_of(doc.text for doc in corpus_documents(settings))


def _fingerprint(sentences: Sequence[Sequence[str]]) -> str:
    digest = hashlib.sha256()
    for sentence in sentences:
        digest.update(" ".join(sentence).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def trained_vectors(
    settings: Any = None,
    *,
    method: str = "sgns",
    sentences: Sequence[Sequence[str]] | None = None,
    corpus_name: str | None = None,
    device: Any = None,
    overrides: Mapping[str, Any] | None = None,
    root: Path | None = None,
) -> WordVectors:
    """Return SGNS vectors of the profile's corpus, trained once and cached (chapter 9; chapter 11 calls it).

    ``method`` is ``"sgns"`` (the course's implementation) or ``"gensim"``. ``settings`` defaults to chapter 9's
    settings under the active profile; ``sentences`` defaults to the profile's corpus (pass your own with a
    ``corpus_name`` for the cache key). The vectors are built once into ``<COURSE_WORK_DIR>/cache`` under a key
    made of the settings and a hash of the text, locked against concurrent builds, and reused afterwards.
    """
    if method not in METHODS:
        raise SgnsError(f"Unknown method {method!r}; use one of {', '.join(METHODS)}.")
    if settings is None:
        from ..profiles import chapter_settings, resolve_profile

        settings = chapter_settings(9, resolve_profile(("cord19",)).profile)
    config = SgnsConfig.from_settings(settings, **dict(overrides or {}))
    if sentences is None:
        sentences = corpus_sentences(settings)
        corpus_name = corpus_name or f"{getattr(settings, 'corpus', 'corpus')}-{getattr(settings, 'max_documents', '')}"
    from ..cache import cache_key, cached_folder

    params = {**asdict(config), "method": method, "corpus": corpus_name or "given", "text": _fingerprint(sentences),
              "algorithm": _ALGORITHM if method == "sgns" else "gensim"}
    key = cache_key(f"ch09-{method}", params)

    def build(folder: Path) -> None:
        if method == "sgns":
            vectors = train_sgns(sentences, config, device=device, name=f"SGNS (course), {corpus_name}").vectors
        else:
            vectors = train_gensim(sentences, config, name=f"gensim Word2Vec, {corpus_name}").vectors
        vectors.save(folder / "vectors.npz")

    return WordVectors.load(cached_folder(key, build, root=root) / "vectors.npz")

