"""A linear-chain CRF written out: path score, forward algorithm, Viterbi, batched Viterbi (chapter 12).

Conventions follow pytorch-crf (``torchcrf.CRF(num_tags, batch_first=True)``) so that the two can be
compared number for number: emissions ``(batch, length, tags)``, a boolean mask ``(batch, length)`` whose
first column is all True, ``start[k]`` the score of starting in tag ``k``, ``end[k]`` of ending in it, and
``transitions[i, j]`` the score of moving from tag ``i`` to tag ``j``. The score of a tag path ``y`` is

    start[y_1] + sum_t emissions[t, y_t] + sum_{t>1} transitions[y_{t-1}, y_t] + end[y_T]

and ``log p(y | x) = score(y) - log Z`` with ``log Z = logsumexp`` over all paths (forward algorithm).
"""

from __future__ import annotations

import itertools

import torch

__all__ = [
    "path_score",
    "log_partition",
    "log_likelihood",
    "viterbi_reference",
    "batched_viterbi",
    "brute_force",
    "crf_parameters",
]


def crf_parameters(crf: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(start, end, transitions)`` of a ``torchcrf.CRF`` module (chapter 12)."""
    return crf.start_transitions, crf.end_transitions, crf.transitions  # type: ignore[return-value]


def _mask(emissions: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)
    return mask.bool()


def path_score(emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None,
               start: torch.Tensor, end: torch.Tensor, transitions: torch.Tensor) -> torch.Tensor:
    """Return the score of each sequence's tag path, shape ``(batch,)`` (chapter 12)."""
    m = _mask(emissions, mask)
    mf = m.to(emissions.dtype)
    emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T)
    score = start[tags[:, 0]] + (emit * mf).sum(1)
    trans = transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
    score = score + (trans * mf[:, 1:]).sum(1)
    last = m.long().sum(1) - 1
    return score + end[tags.gather(1, last.unsqueeze(1)).squeeze(1)]


def log_partition(emissions: torch.Tensor, mask: torch.Tensor | None,
                  start: torch.Tensor, end: torch.Tensor, transitions: torch.Tensor) -> torch.Tensor:
    """Return ``log Z`` per sequence by the forward algorithm, shape ``(batch,)`` (chapter 12).

    ``alpha[b, j]`` is the log-sum of the scores of all paths that end in tag ``j`` at the current step;
    one step is ``alpha'_j = logsumexp_i(alpha_i + transitions[i, j]) + emissions[t, j]``.
    """
    m = _mask(emissions, mask)
    alpha = start + emissions[:, 0]  # (B, K)
    for t in range(1, emissions.shape[1]):
        nxt = torch.logsumexp(alpha.unsqueeze(2) + transitions.unsqueeze(0), dim=1) + emissions[:, t]
        alpha = torch.where(m[:, t:t + 1], nxt, alpha)
    return torch.logsumexp(alpha + end, dim=1)


def log_likelihood(emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None,
                   start: torch.Tensor, end: torch.Tensor, transitions: torch.Tensor) -> torch.Tensor:
    """Return ``log p(tags | emissions)`` per sequence, shape ``(batch,)`` (chapter 12)."""
    return (path_score(emissions, tags, mask, start, end, transitions)
            - log_partition(emissions, mask, start, end, transitions))


def viterbi_reference(emissions: torch.Tensor, mask: torch.Tensor | None, start: torch.Tensor,
                      end: torch.Tensor, transitions: torch.Tensor) -> list[list[int]]:
    """Return the best path of each sequence, one sequence at a time with plain Python backtracking.

    The textbook version (chapter 12): easy to read, slow; :func:`batched_viterbi` is the fast one.
    """
    m = _mask(emissions, mask)
    paths = []
    for b in range(emissions.shape[0]):
        n = int(m[b].sum())
        score = start + emissions[b, 0]
        back = []
        for t in range(1, n):
            total = score.unsqueeze(1) + transitions  # (from, to)
            best, idx = total.max(dim=0)
            back.append(idx)
            score = best + emissions[b, t]
        tag = int((score + end).argmax())
        path = [tag]
        for idx in reversed(back):
            tag = int(idx[tag])
            path.append(tag)
        paths.append(path[::-1])
    return paths


@torch.no_grad()
def batched_viterbi(emissions: torch.Tensor, mask: torch.Tensor | None, start: torch.Tensor,
                    end: torch.Tensor, transitions: torch.Tensor) -> torch.Tensor:
    """Return the best tag path of every sequence at once, a ``(batch, length)`` tensor (chapter 12).

    Only the time axis is a Python loop; every step works on the whole batch and nothing moves to the
    host. Scores are kept tag-major, ``(tags, batch)``, so that one step is a broadcast sum
    ``(previous, next, batch)`` and a ``max`` over its first axis, an element-wise maximum of contiguous
    slabs (much faster on CPU than a max over a short last axis); the buffers are allocated once, outside
    the loop. No back-pointer table is stored (an argmax over the first axis is far slower than a max on
    CPU): backtracking recomputes the one back-pointer it needs per step, ``argmax_i(score[t, i, b] +
    transitions[i, tag_b])``, from the same numbers, so the path is the same. Lengths come from the mask
    (a prefix of True values, as in pytorch-crf); positions past a sequence's end hold its last tag.
    """
    m = _mask(emissions, mask)
    batch, length, k = emissions.shape
    lengths = m.long().sum(1)
    em = emissions.permute(1, 2, 0).contiguous()  # (length, tags, batch)
    step = transitions.unsqueeze(2)  # (previous, next, 1)
    scores = em.new_empty((length, k, batch))  # best score of a path ending in each tag, per step (tag-major)
    torch.add(start.unsqueeze(1), em[0], out=scores[0])
    work = em.new_empty((k, k, batch))  # reused every step: no allocation inside the loop
    for t in range(1, length):
        torch.add(step, scores[t - 1].unsqueeze(1), out=work)
        torch.amax(work, dim=0, out=scores[t])
        scores[t].add_(em[t])
    rows = torch.arange(batch, device=emissions.device)
    last = (scores[lengths - 1, :, rows] + end).argmax(dim=1)  # (batch,)
    inside = torch.arange(1, length, device=emissions.device).unsqueeze(1) < lengths  # (length-1, batch)
    tags = emissions.new_empty((length, batch), dtype=torch.long)
    tags[length - 1] = last
    tag = last
    candidate = em.new_empty((k, batch))
    for t in range(length - 2, -1, -1):  # back-pointer of step t + 1: argmax over the previous tag (axis 0)
        torch.add(scores[t], transitions.index_select(1, tag), out=candidate)
        tag = torch.where(inside[t], candidate.argmax(dim=0), last)
        tags[t] = tag
    return tags.t()


def brute_force(emissions: torch.Tensor, start: torch.Tensor, end: torch.Tensor,
                transitions: torch.Tensor) -> tuple[float, list[int]]:
    """Return ``(log Z, best path)`` of ONE unmasked sequence ``(length, tags)`` by listing every path.

    ``tags ** length`` paths: only for tiny cases, to check the forward algorithm and Viterbi (chapter 12).
    """
    length, k = emissions.shape
    scores, paths = [], []
    for path in itertools.product(range(k), repeat=length):
        tags = torch.tensor([path])
        scores.append(path_score(emissions.unsqueeze(0), tags, None, start, end, transitions)[0])
        paths.append(list(path))
    stacked = torch.stack(scores)
    return float(torch.logsumexp(stacked, 0)), paths[int(stacked.argmax())]
