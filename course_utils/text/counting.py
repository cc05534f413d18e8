"""Count-based word vectors: vocabulary, sparse window co-occurrence, PPMI, truncated SVD (chapter 8).

The seed built ``M_ij = p(w_j | w_i)`` from bigram counts as a dense V x V array and took its full SVD
(:func:`seed_bigram_matrix`, :func:`full_svd_vectors`): fine for a few thousand words, impossible for a
real vocabulary (:func:`dense_matrix_bytes`). The way that scales keeps the counts sparse
(:func:`cooccurrence_matrix`, built from integer-id arrays with numpy, one vectorised pass per window
offset), reweights them by positive pointwise mutual information with context-distribution smoothing
(:func:`ppmi`, Levy, Goldberg and Dagan 2015) and keeps the top singular directions of a randomized SVD
with power iterations (:func:`randomized_svd`, Halko, Martinsson and Tropp 2011).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import CourseError
from .vectors import CategoryResult, WordVectors

__all__ = [
    "CountingError",
    "Vocabulary",
    "EncodedCorpus",
    "SvdResult",
    "build_vocabulary",
    "encode",
    "cooccurrence_matrix",
    "ppmi",
    "randomized_svd",
    "default_oversamples",
    "POWER_ITERATIONS",
    "svd_vectors",
    "count_vectors",
    "seed_bigram_matrix",
    "full_svd_vectors",
    "dense_matrix_bytes",
    "plot_category_purity",
]


class CountingError(CourseError, ValueError):
    """Counts, matrices or settings that chapter 8's counting cannot use."""


@dataclass(frozen=True)
class Vocabulary:
    """Return-type of :func:`build_vocabulary` (chapter 8): words by falling count, and their counts."""

    words: tuple[str, ...]
    counts: np.ndarray  # int64, same order as words
    min_count: int
    n_tokens: int  # tokens in the corpus, including those below min_count
    n_types: int  # distinct words in the corpus, including those below min_count

    def __len__(self) -> int:
        return len(self.words)

    @property
    def index(self) -> dict[str, int]:
        """Return a dict word -> id."""
        return {w: i for i, w in enumerate(self.words)}


@dataclass(frozen=True)
class EncodedCorpus:
    """Return-type of :func:`encode` (chapter 8): one id per token (-1 = below min_count) and its document."""

    ids: np.ndarray  # int32
    doc: np.ndarray  # int32, document number of each token
    vocab: Vocabulary


@dataclass(frozen=True)
class SvdResult:
    """Return-type of :func:`randomized_svd` (chapter 8): ``matrix ~ U @ diag(S) @ Vt``, S falling."""

    U: np.ndarray
    S: np.ndarray
    Vt: np.ndarray

    @property
    def V(self) -> np.ndarray:
        """Return the right singular vectors as columns (context vectors are its rows)."""
        return self.Vt.T

    def word_vectors(self, power: float = 0.5) -> np.ndarray:
        """Return ``U S^power`` (rows are word vectors; power 0.5 splits S between words and contexts)."""
        return (self.U * self.S**power).astype(np.float32, copy=False)


def build_vocabulary(documents: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None) -> Vocabulary:
    """Return the vocabulary of tokenized ``documents``: words seen at least ``min_count`` times (chapter 8).

    Words are sorted by falling count, ties alphabetically, so ids are deterministic; ``max_size`` keeps the
    most frequent words only.
    """
    if min_count < 1:
        raise CountingError(f"min_count={min_count}: a word must occur at least once to be counted; use 1 or more.")
    counter: Counter[str] = Counter()
    for tokens in documents:
        counter.update(tokens)
    kept = sorted((item for item in counter.items() if item[1] >= min_count), key=lambda wc: (-wc[1], wc[0]))
    if max_size is not None:
        kept = kept[:max_size]
    if not kept:
        raise CountingError(
            f"No word occurs {min_count} times or more in {sum(counter.values()):,} tokens; lower min_count "
            "or give the function a larger corpus."
        )
    return Vocabulary(
        tuple(w for w, _ in kept),
        np.array([c for _, c in kept], dtype=np.int64),
        min_count,
        int(sum(counter.values())),
        len(counter),
    )


def encode(documents: Iterable[Sequence[str]], vocab: Vocabulary) -> EncodedCorpus:
    """Return the corpus as integer arrays: word ids (-1 for words outside ``vocab``) and document numbers (chapter 8)."""
    index = vocab.index
    ids: list[int] = []
    lengths: list[int] = []
    for tokens in documents:
        ids.extend(index.get(t, -1) for t in tokens)
        lengths.append(len(tokens))
    doc = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    return EncodedCorpus(np.asarray(ids, dtype=np.int32), doc, vocab)


def cooccurrence_matrix(
    ids: np.ndarray,
    doc: np.ndarray | None,
    vocab_size: int,
    window: int,
    *,
    weighting: str = "uniform",
    dtype: type = np.float32,
) -> sp.csr_matrix:
    """Return the symmetric V x V sparse matrix of word-context counts within ``window`` tokens (chapter 8).

    ``ids`` holds one word id per token (negative = not in the vocabulary: it counts as a position but
    pairs with nothing); ``doc`` the document of each token (pairs never cross documents; ``None`` = one
    document). Each offset 1..window is one vectorised pass: left ids, right ids, a mask, and a COO matrix;
    ``weighting="harmonic"`` weights a pair at distance d by 1/d (GloVe's choice), ``"uniform"`` by 1.
    Entry (i, j) counts j in the window around i, so rows and columns hold the same totals.
    """
    if window < 1:
        raise CountingError(f"window={window}: the context window must hold at least one word on each side.")
    if weighting not in ("uniform", "harmonic"):
        raise CountingError(f"Unknown weighting {weighting!r}; use 'uniform' or 'harmonic'.")
    ids = np.asarray(ids)
    if ids.size and int(ids.max()) >= vocab_size:
        raise CountingError(
            f"Word id {int(ids.max())} is outside a vocabulary of {vocab_size}; encode with the same vocabulary."
        )
    if doc is not None and len(doc) != len(ids):
        raise CountingError(f"{len(ids)} token ids but {len(doc)} document numbers; give one per token.")
    total = sp.csr_matrix((vocab_size, vocab_size), dtype=dtype)
    for offset in range(1, window + 1):
        if offset >= len(ids):
            break
        left, right = ids[:-offset], ids[offset:]
        keep = (left >= 0) & (right >= 0)
        if doc is not None:
            keep &= doc[:-offset] == doc[offset:]
        rows, cols = left[keep], right[keep]
        weight = 1.0 if weighting == "uniform" else 1.0 / offset
        data = np.full(rows.shape[0], weight, dtype=dtype)
        part = sp.coo_matrix((data, (rows, cols)), shape=(vocab_size, vocab_size)).tocsr()
        total = total + part + part.T.tocsr()
    total.sum_duplicates()
    return total.tocsr()


def ppmi(counts: sp.spmatrix | np.ndarray, alpha: float = 0.75, *, dtype: type = np.float32) -> sp.csr_matrix:
    """Return the positive PMI of a word-context count matrix, contexts smoothed by ``alpha`` (chapter 8).

    ``PMI(w, c) = log(P(w, c) / (P(w) P_alpha(c)))`` with ``P(w, c) = n_wc / N``, ``P(w) = n_w / N`` and
    ``P_alpha(c) = n_c^alpha / sum_c' n_c'^alpha``; negative values and unseen pairs become 0, so the result
    keeps the sparsity pattern of ``counts``. ``alpha = 1`` is plain PPMI; 0.75 lifts rare contexts' mass
    and so tames PMI's bias towards them.
    """
    matrix = sp.csr_matrix(counts, dtype=np.float64)
    if matrix.shape[0] == 0 or matrix.nnz == 0:
        raise CountingError("The count matrix is empty; count co-occurrences on a corpus with text first.")
    if matrix.data.min() < 0:
        raise CountingError("The count matrix holds negative entries; PPMI needs counts (zero or more).")
    if not 0 < alpha <= 1:
        raise CountingError(f"alpha={alpha}: context smoothing needs 0 < alpha <= 1 (0.75 is the usual choice).")
    total = matrix.data.sum()
    row_sums = np.asarray(matrix.sum(axis=1)).ravel()
    col_sums = np.asarray(matrix.sum(axis=0)).ravel()
    smoothed = col_sums**alpha
    p_context = smoothed / smoothed.sum()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    cols = matrix.indices
    pmi = np.log(matrix.data / total) - np.log(row_sums[rows] / total) - np.log(p_context[cols])
    data = np.maximum(pmi, 0.0).astype(dtype)
    result = sp.csr_matrix((data, matrix.indices.copy(), matrix.indptr.copy()), shape=matrix.shape)
    result.eliminate_zeros()
    return result


def _torch_csr(matrix: sp.csr_matrix, device: Any) -> Any:
    import warnings

    import torch

    index_type = np.int32 if matrix.nnz < 2**31 - 1 else np.int64  # int32 indices halve the copy's memory
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(index_type)),
            torch.from_numpy(matrix.indices.astype(index_type)),
            torch.from_numpy(matrix.data),
            size=matrix.shape,
            check_invariants=False,
        ).to(device)


def _sparse_times(matrix: Any, block: Any, columns: int = 32) -> Any:
    """Return ``matrix @ block`` for a torch sparse CSR ``matrix`` and a dense ``block`` (chapter 8).

    On the CPU the block is multiplied ``columns`` columns at a time, the slices spread over torch's threads: a
    slice of a 100,000-row block fits the cache, where the whole block does not, so each non-zero's row of the
    block is read from cache (about 2.5x faster on one core for a 100,000 x 450 block). On a GPU: one product.
    """
    import torch

    if block.device.type != "cpu" or matrix.layout != torch.sparse_csr or block.shape[1] <= columns:
        return matrix @ block
    import threading
    from concurrent.futures import ThreadPoolExecutor

    out = block.new_empty((matrix.shape[0], block.shape[1]))
    local = threading.local()  # each thread reuses its own two slice buffers: no allocation per slice

    def one_slice(first: int) -> None:
        width = min(columns, block.shape[1] - first)
        if getattr(local, "width", None) != width:
            local.width = width
            local.source = block.new_empty((block.shape[0], width))
            local.product = block.new_empty((matrix.shape[0], width))
        local.source.copy_(block[:, first:first + width])
        torch.mm(matrix, local.source, out=local.product)
        out[:, first:first + width] = local.product

    firsts = range(0, block.shape[1], columns)
    threads = max(1, torch.get_num_threads())
    if threads == 1:
        for first in firsts:
            one_slice(first)
    else:
        with ThreadPoolExecutor(threads) as pool:  # torch releases the GIL inside the product
            list(pool.map(one_slice, firsts))
    return out


def _cholesky_qr(q: Any, rounds: int = 2) -> tuple[Any, Any]:
    """Return ``(Q, R)`` with ``q = Q R``, ``Q`` orthonormal, for a tall torch block: Cholesky QR (chapter 8).

    One round is a Gram matrix, a float64 Cholesky factorisation and a triangular solve: two GEMMs instead of
    Householder QR's many thin updates. A second round repairs the orthogonality the first loses when the block
    is ill-conditioned. Falls back to Householder QR if a Cholesky factorisation fails.
    """
    import torch

    r_total = None
    for _ in range(rounds):
        gram = (q.T @ q).double()
        factor, info = torch.linalg.cholesky_ex(gram)
        if int(info) != 0:
            q_h, r_h = torch.linalg.qr(q)
            r_h = r_h.double()
            return q_h, (r_h if r_total is None else r_h @ r_total).to(q.dtype)
        identity = torch.eye(gram.shape[0], dtype=torch.float64, device=gram.device)
        inverse = torch.linalg.solve_triangular(factor.T, identity, upper=True)
        q = q @ inverse.to(q.dtype)
        r_total = factor.T if r_total is None else factor.T @ r_total
    return q, r_total.to(q.dtype)


#: Power iterations of :func:`randomized_svd` by default (chapter 8). Measured on the PPMI matrix of the real
#: abstracts of ``COURSE_REAL_DATA`` (window 5, min count 5, k = 300, against scipy's ``svds``): with
#: ``default_oversamples(300) = 150`` extra columns, 4 iterations leave the top 150 singular values within 0.30 %
#: and all 300 within 1.98 % at 5,027 words but 0.59 % and 2.56 % at 10,346 words (the errors grow with the
#: vocabulary); 6 iterations leave 0.05 % / 0.88 % and 0.12 % / 1.06 %, room for a vocabulary several times
#: larger before the chapter's 1 % / 5 % claims are at risk. The old defaults (20 columns, 3 iterations) gave
#: 2.58 % / 8.92 % at 10,346 words.
POWER_ITERATIONS = 6


def default_oversamples(k: int) -> int:
    """Return the extra columns of :func:`randomized_svd`'s random block for rank ``k``: ``max(20, k // 2)`` (chapter 8).

    A fixed 20 is enough for a few dozen singular values; for hundreds, the trailing ones converge only when the
    block reaches well past ``k`` (a block of 1.5 k, as Halko et al. suggest for slowly decaying spectra).
    """
    return max(20, int(k) // 2)


def randomized_svd(
    matrix: sp.spmatrix | np.ndarray,
    k: int,
    *,
    oversamples: int | None = None,
    power_iterations: int = POWER_ITERATIONS,
    seed: int = 1234,
    dtype: type = np.float32,
    backend: str = "numpy",
    device: Any = None,
) -> SvdResult:
    """Return the top ``k`` singular triplets of ``matrix`` by a randomized range finder (chapter 8).

    Halko, Martinsson and Tropp (2011), algorithm 4.4: multiply by a Gaussian block of ``k + oversamples``
    columns (``oversamples`` defaults to :func:`default_oversamples`, ``max(20, k // 2)``), sharpen the range with ``power_iterations`` passes through ``A A^T`` (re-orthonormalised by QR
    after every product, so small singular values are not lost in rounding), then take the exact SVD of the
    small projected matrix ``Q^T A`` (here through the QR of ``A^T Q``, so only a ``block x block`` SVD is
    computed). Each pass costs two sparse-times-dense products; more passes make the
    trailing singular values more accurate. The defaults (``max(20, k // 2)`` extra columns,
    :data:`POWER_ITERATIONS` = 6 passes) hold chapter 8's accuracy claims (top half of the singular values within
    1 % of ``svds``, all within 5 %) on the real-abstract PPMI matrices measured at k = 300 (see
    :data:`POWER_ITERATIONS`); fewer columns or passes trade accuracy of the trailing values for time. ``backend="torch"`` does the products and QRs with torch (sparse
    CSR; all CPU cores, or ``device`` such as a GPU from ``course_utils.device.pick_device``), ``"numpy"`` with
    scipy and numpy; the algorithm and the random block are the same.
    """
    shape = matrix.shape
    if not 1 <= k < min(shape):
        raise CountingError(f"k={k}: a truncated SVD of a {shape[0]} x {shape[1]} matrix needs 1 <= k < {min(shape)}.")
    if backend not in ("numpy", "torch"):
        raise CountingError(f"Unknown backend {backend!r}; use 'numpy' or 'torch'.")
    if oversamples is None:
        oversamples = default_oversamples(k)
    if oversamples < 0 or power_iterations < 0:
        raise CountingError(f"oversamples={oversamples}, power_iterations={power_iterations}: both must be 0 or more "
                            f"(the defaults are max(20, k // 2) = {default_oversamples(k)} and {POWER_ITERATIONS}).")
    block = min(k + oversamples, min(shape))
    rng = np.random.default_rng(seed)
    omega = rng.standard_normal((shape[1], block)).astype(dtype)
    if sp.issparse(matrix):
        a = sp.csr_matrix(matrix, dtype=dtype)
        at = a.T.tocsr()
    else:
        a = np.asarray(matrix, dtype=dtype)
        at = np.ascontiguousarray(a.T)
    if backend == "numpy":
        q, _ = np.linalg.qr(a @ omega)
        for _ in range(power_iterations):
            z, _ = np.linalg.qr(at @ q)
            q, _ = np.linalg.qr(a @ z)
        small = np.asarray((at @ q).T)  # Q^T A, block x n
        u_small, s, vt = np.linalg.svd(small, full_matrices=False)
        u = q @ u_small
    else:
        import torch

        device = torch.device("cpu") if device is None else torch.device(device)
        if sp.issparse(a):
            ta, tat = _torch_csr(a, device), _torch_csr(at, device)
        else:
            ta, tat = torch.from_numpy(a).to(device), torch.from_numpy(at).to(device)
        del a, at
        # one Cholesky-QR round between products (only the range matters there), two for the final basis
        tq = _cholesky_qr(_sparse_times(ta, torch.from_numpy(omega).to(device)), 1 if power_iterations else 2)[0]
        del omega
        for i in range(power_iterations):
            tz = _cholesky_qr(_sparse_times(tat, tq), 1)[0]
            del tq
            tq = _cholesky_qr(_sparse_times(ta, tz), 2 if i == power_iterations - 1 else 1)[0]
            del tz
        # A ~ Q Q^T A = Q Y^T with Y = A^T Q = Q2 R: the SVD of the small R^T = Ur S Vr^T gives U = Q Ur, V = Q2 Vr
        q2, r = _cholesky_qr(_sparse_times(tat, tq), 2)
        tu, ts, tvt = torch.linalg.svd(r.T.double(), full_matrices=False)
        u = (tq @ tu[:, :k].to(tq.dtype)).cpu().numpy()
        s = ts.cpu().numpy()
        vt = (q2 @ tvt[:k].T.to(q2.dtype)).T.cpu().numpy()
        del q2, r
    return SvdResult(
        np.ascontiguousarray(u[:, :k], dtype=dtype),
        s[:k].astype(dtype),
        np.ascontiguousarray(vt[:k], dtype=dtype),
    )


def svd_vectors(
    matrix: sp.spmatrix | np.ndarray,
    vocab: Sequence[str],
    k: int,
    *,
    power: float = 0.5,
    name: str = "svd",
    seed: int = 1234,
    **svd_options: Any,
) -> WordVectors:
    """Return word vectors ``U S^power`` from a randomized SVD of a word-context matrix (chapter 8).

    ``svd_options`` go to :func:`randomized_svd` (``oversamples``, ``power_iterations``, ``backend``, ``device``).
    """
    result = randomized_svd(matrix, k, seed=seed, **svd_options)
    return WordVectors(tuple(vocab), result.word_vectors(power), name)


def count_vectors(
    documents: Sequence[Sequence[str]],
    *,
    min_count: int = 5,
    window: int = 2,
    dim: int = 300,
    alpha: float = 0.75,
    power: float = 0.5,
    weighting: str = "ppmi",
    max_vocab: int | None = None,
    seed: int = 1234,
    backend: str = "numpy",
    name: str | None = None,
    oversamples: int | None = None,
    power_iterations: int = POWER_ITERATIONS,
    device: Any = None,
) -> WordVectors:
    """Return word vectors from tokenized documents: vocabulary, window counts, PPMI (or raw), randomized SVD (chapter 8).

    The whole of chapter 8's scalable pipeline in one call; ``weighting="raw"`` skips PPMI (the baseline the
    chapter compares against). ``dim`` is capped below the vocabulary size. The SVD settings are
    :func:`randomized_svd`'s (by default ``max(20, k // 2)`` extra columns and 6 power iterations, the settings
    chapter 8's accuracy claims hold for).
    """
    if weighting not in ("ppmi", "raw"):
        raise CountingError(f"Unknown weighting {weighting!r}; use 'ppmi' or 'raw'.")
    vocab = build_vocabulary(documents, min_count=min_count, max_size=max_vocab)
    encoded = encode(documents, vocab)
    counts = cooccurrence_matrix(encoded.ids, encoded.doc, len(vocab), window)
    matrix = ppmi(counts, alpha=alpha) if weighting == "ppmi" else counts
    k = min(dim, len(vocab) - 1)
    result = randomized_svd(matrix, k, seed=seed, backend=backend, oversamples=oversamples,
                            power_iterations=power_iterations, device=device)
    label = name or ("PPMI-SVD" if weighting == "ppmi" else "raw-count SVD")
    return WordVectors(vocab.words, result.word_vectors(power), label)


def seed_bigram_matrix(encoded: EncodedCorpus) -> np.ndarray:
    """Return the seed's dense V x V matrix ``M_ij = p(w_j | w_i) = c(w_i w_j) / c(w_i)`` (chapter 8).

    Bigrams are adjacent in-vocabulary tokens of one document; ``c(w_i)`` is the number of bigrams that
    start with ``w_i``, so every row with any bigram sums to 1. Dense: V^2 float64 numbers (see
    :func:`dense_matrix_bytes` before calling it on a large vocabulary).
    """
    size = len(encoded.vocab)
    if size > 20_000:
        raise CountingError(
            f"A dense {size:,} x {size:,} matrix needs {dense_matrix_bytes(size) / 1e9:.1f} GB; this is the point "
            "of chapter 8. Use cooccurrence_matrix() and ppmi() (sparse) for a vocabulary this large."
        )
    ids, doc = encoded.ids, encoded.doc
    left, right = ids[:-1], ids[1:]
    keep = (left >= 0) & (right >= 0) & (doc[:-1] == doc[1:])
    counts = np.zeros((size, size))
    np.add.at(counts, (left[keep], right[keep]), 1.0)
    starts = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, starts, out=np.zeros_like(counts), where=starts > 0)


def full_svd_vectors(dense: np.ndarray, vocab: Sequence[str], k: int, *, name: str = "seed bigram SVD") -> WordVectors:
    """Return the seed's word vectors: the first ``k`` columns of U from a full SVD of a dense matrix (chapter 8)."""
    u, _, _ = np.linalg.svd(np.asarray(dense, dtype=np.float64), full_matrices=False)
    return WordVectors(tuple(vocab), u[:, :k], name)


def dense_matrix_bytes(vocab_size: int, itemsize: int = 8) -> int:
    """Return the bytes a dense ``vocab_size`` x ``vocab_size`` matrix takes (float64 by default) (chapter 8)."""
    return int(vocab_size) * int(vocab_size) * int(itemsize)


def plot_category_purity(results: Mapping[str, CategoryResult]) -> Any:
    """Return a bar chart of k-NN category purity per planted category, one bar group per method (chapter 8)."""
    import matplotlib.pyplot as plt

    from ..plotting import apply_style

    apply_style()
    methods = list(results)
    categories = sorted({c for r in results.values() for c in r.per_category})
    width = 0.8 / max(len(methods), 1)
    fig, ax = plt.subplots(figsize=(8.0, 3.2))
    x = np.arange(len(categories) + 1)
    for i, method in enumerate(methods):
        result = results[method]
        heights = [result.per_category.get(c, np.nan) for c in categories] + [result.purity]
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, heights, width, label=f"{method} ({result.purity:.2f})")
    chance = max(r.chance for r in results.values())
    ax.axhline(chance, color="grey", lw=0.8, ls="--", label=f"chance ({chance:.3f})")
    ax.set_xticks(x, [*categories, "all"], rotation=30, ha="right")
    ax.set_ylabel("k-NN category purity")
    ax.set_ylim(0, 1.05)
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig
