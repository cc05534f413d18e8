"""course_utils.distributed: one data-parallel step on two CPU processes (gloo) equals one step on one process with
the two processes' batches together (chapters 10, 12-14 build their torchrun commands on it)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch

from course_utils.distributed import (
    DistributedContext,
    all_reduce_mean,
    init_distributed,
    launched_by_torchrun,
    shard_batch,
    torchrun_command,
    unwrap_model,
    wrap_model,
)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))


def _data(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 5, generator=g), torch.randn(n, 3, generator=g)


def _step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = torch.nn.functional.mse_loss(model(x), y)  # a mean over the examples, as the equality needs
    loss.backward()
    optimizer.step()


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "COURSE_DEVICE": "cpu"})
    torch.set_num_threads(1)
    ctx = init_distributed()
    model = wrap_model(_model(), ctx)
    x, y = _data()
    mine = shard_batch(list(range(len(x))), ctx)
    _step(model, x[mine], y[mine])
    mean = all_reduce_mean(float(rank), ctx)
    if ctx.is_main:
        torch.save({"state": unwrap_model(model).state_dict(), "mean": mean, "shard": mine}, out)
    import torch.distributed as dist

    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_processes_of_batch_b_equal_one_process_of_batch_2b(tmp_path: Path) -> None:
    out = tmp_path / "rank0.pt"
    torch.multiprocessing.start_processes(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True,
                                          start_method="spawn")
    got = torch.load(out)
    assert got["shard"] == [0, 2, 4, 6]
    assert got["mean"] == pytest.approx(0.5)
    reference = _model()
    before = {k: v.clone() for k, v in reference.state_dict().items()}
    _step(reference, *_data())
    for name, value in reference.state_dict().items():
        assert not torch.equal(value, before[name])  # the step moved every weight
        torch.testing.assert_close(got["state"][name], value, rtol=1e-5, atol=1e-6)


def test_one_process_context_without_a_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    ctx = init_distributed()
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.distributed) == (0, 1, True, False)
    model = _model()
    assert wrap_model(model, ctx) is model and unwrap_model(model) is model
    assert shard_batch([1, 2, 3], ctx) == [1, 2, 3]
    assert all_reduce_mean(2.5, ctx) == 2.5
    assert not launched_by_torchrun({"WORLD_SIZE": "1"}) and launched_by_torchrun({"WORLD_SIZE": "4"})
    assert not launched_by_torchrun({"WORLD_SIZE": "x"})


def test_shards_cover_the_batch_once() -> None:
    batch = list(range(11))
    shards = [shard_batch(batch, DistributedContext(r, 3, r, torch.device("cpu"))) for r in range(3)]
    assert sorted(sum(shards, [])) == batch
    assert [len(s) for s in shards] == [4, 4, 3]


def test_torchrun_command_quotes_its_arguments() -> None:
    command = torchrun_command("course_utils.ie.ner.tagger", "train", ["--data", "my data/ruijin", "--out", "model"],
                               gpus=4)
    assert command == ("torchrun --standalone --nproc_per_node 4 -m course_utils.ie.ner.tagger train "
                       "--data 'my data/ruijin' --out model")


def test_an_explicit_device_that_is_missing_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        init_distributed("cuda")
