"""Chapter 12: the course's CRF against pytorch-crf and against brute force over all paths."""

from __future__ import annotations

import pytest
import torch
from torchcrf import CRF

from course_utils.ie.crf import (
    batched_viterbi,
    brute_force,
    crf_parameters,
    log_likelihood,
    log_partition,
    path_score,
    viterbi_reference,
)


def _crf(k: int, seed: int) -> tuple[CRF, tuple[torch.Tensor, ...]]:
    torch.manual_seed(seed)
    crf = CRF(k, batch_first=True)
    for p in crf.parameters():
        torch.nn.init.normal_(p)
    return crf, tuple(p.detach() for p in crf_parameters(crf))


def _batch(b: int, t: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    emissions = torch.randn(b, t, k, generator=g) * 2
    tags = torch.randint(0, k, (b, t), generator=g)
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    lengths[0] = t
    mask = torch.arange(t)[None] < lengths[:, None]
    return emissions, tags, mask, lengths


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_likelihood_equals_pytorch_crf(seed: int) -> None:
    crf, params = _crf(7, seed)
    emissions, tags, mask, _ = _batch(6, 12, 7, seed)
    ours = log_likelihood(emissions, tags, mask, *params)
    theirs = crf(emissions, tags, mask, reduction="none").detach()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-4)
    assert (ours < 0).all()


def test_forward_algorithm_and_viterbi_equal_brute_force() -> None:
    _, params = _crf(3, 4)
    emissions = torch.randn(5, 3, generator=torch.Generator().manual_seed(4))
    log_z, best = brute_force(emissions, *params)  # 3 ** 5 = 243 paths
    assert log_partition(emissions[None], None, *params).item() == pytest.approx(log_z, abs=1e-5)
    assert viterbi_reference(emissions[None], None, *params) == [best]
    assert batched_viterbi(emissions[None], None, *params)[0].tolist() == best
    best_score = path_score(emissions[None], torch.tensor([best]), None, *params).item()
    assert best_score <= log_z  # one path never outweighs the sum of all


@pytest.mark.parametrize("seed", [0, 1])
def test_batched_viterbi_identical_to_pytorch_crf_decode(seed: int) -> None:
    crf, params = _crf(31, seed)
    emissions, _, mask, lengths = _batch(8, 24, 31, seed)
    theirs = crf.decode(emissions, mask)
    ours = batched_viterbi(emissions, mask, *params)
    assert [ours[i, :lengths[i]].tolist() for i in range(8)] == theirs
    assert viterbi_reference(emissions, mask, *params) == theirs
    # positions past a sequence's end repeat its last tag
    short = int(lengths.argmin())
    assert (ours[short, lengths[short]:] == ours[short, lengths[short] - 1]).all()
