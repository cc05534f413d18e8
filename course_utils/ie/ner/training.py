"""Training the chapter-12 tagger: examples from brat documents, batches, chunk F1 on validation and the
training loop (pytorch-crf's log-likelihood, early stopping on validation, data parallel under torchrun)
(chapter 12).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..bio import (
    EncodeStats,
    bio_to_spans,
    chunk_document,
    encode_document,
)
from ..brat import BratDocument
from ..scoring import Mention, score_mentions
from .model import CharVocab, Example, NerModel

__all__ = ["TrainConfig", "TrainResult", "make_examples", "train_ner", "chunk_f1"]

def make_examples(docs: Sequence[BratDocument], vocab: CharVocab, tags: Sequence[str], *, max_length: int,
                  stride: int = 16) -> tuple[list[Example], EncodeStats]:
    """Return training chunks of ``docs`` (line breaks removed, stated BIO policy) and the policy's counts."""
    tag_id = {t: i for i, t in enumerate(tags)}
    types = {t[2:] for t in tags if t != "O"}
    examples, stats = [], EncodeStats()
    for doc in docs:
        enc = encode_document(doc, types=types)
        stats.add(enc.stats)
        for chunk in chunk_document(enc.text, max_length=max_length, stride=stride, protected=enc.spans,
                                    doc_id=doc.doc_id):
            text = enc.text[chunk.start:chunk.end]
            examples.append(Example(chunk, vocab.encode(text), [tag_id[t] for t in enc.tags[chunk.start:chunk.end]]))
    return examples, stats


def _batch_groups(examples: Sequence[Example], batch_size: int, rng: np.random.Generator | None) -> list[list[int]]:
    """Return the example indices of each batch; lengths are bucketed (sorted, then batches shuffled)."""
    order = np.argsort([len(e.ids) for e in examples], kind="stable")
    if rng is not None:  # shuffle within similar lengths, then the batches
        noise = rng.random(len(examples)) * 8
        order = np.argsort(np.array([len(e.ids) for e in examples]) + noise, kind="stable")
    groups = [[int(i) for i in order[i:i + batch_size]] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(groups)
    return groups


def _pad(examples: Sequence[Example], group: Sequence[int], device: Any
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return right-padded ids, tags and mask of ``examples[group]`` on ``device``."""
    width = max(len(examples[i].ids) for i in group)
    ids = torch.zeros((len(group), width), dtype=torch.long)
    tags = torch.zeros((len(group), width), dtype=torch.long)
    for row, i in enumerate(group):
        n = len(examples[i].ids)
        ids[row, :n] = torch.tensor(examples[i].ids)
        tags[row, :n] = torch.tensor(examples[i].tags)
    mask = torch.arange(width)[None] < torch.tensor([len(examples[i].ids) for i in group])[:, None]
    return ids.to(device), tags.to(device), mask.to(device)


def _batches(examples: Sequence[Example], batch_size: int, rng: np.random.Generator | None,
             device: Any) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]]:
    """Return padded batches with their example indices (see :func:`_batch_groups`)."""
    return [(*_pad(examples, group, device), group) for group in _batch_groups(examples, batch_size, rng)]


@torch.no_grad()
def _predict_examples(model: NerModel, examples: Sequence[Example], batch_size: int, device: Any) -> list[list[int]]:
    was_training = model.training
    model.eval()
    preds: list[list[int]] = [[] for _ in examples]
    for ids, _, mask, group in _batches(examples, batch_size, None, device):
        paths = model.decode(ids, mask).cpu()
        lengths = mask.sum(1).cpu()
        for row, i in enumerate(group):
            preds[i] = paths[row, :lengths[row]].tolist()
    model.train(was_training)
    return preds


def chunk_f1(model: NerModel, examples: Sequence[Example], *, batch_size: int = 64, device: Any = "cpu") -> float:
    """Return the exact span + type micro-F1 over chunks (fast validation score; chapter 12)."""
    preds = _predict_examples(model, examples, batch_size, device)
    tags = model.tags
    gold, pred = [], []
    for k, (ex, p) in enumerate(zip(examples, preds, strict=True)):
        gold += [Mention(str(k), t, ((a, b),)) for a, b, t in bio_to_spans([tags[i] for i in ex.tags])]
        pred += [Mention(str(k), t, ((a, b),)) for a, b, t in bio_to_spans([tags[i] for i in p])]
    return score_mentions(gold, pred).micro_f1


@dataclass
class TrainConfig:
    """Training knobs (chapter 12). ``patience`` epochs without a better validation F1 stop training."""

    epochs: int = 10
    batch_size: int = 32
    lr_encoder: float = 1e-3
    lr_head: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 3
    lr_decay: float = 1.0  # both learning rates are multiplied by this after every epoch
    ema_decay: float | None = None  # validate, keep and return an exponential moving average of the weights
    grad_clip: float = 5.0
    max_minutes: float | None = None
    train_f1_sample: int = 300
    rare_types: tuple[str, ...] = ()
    rare_oversample: int = 1
    early_stopping: bool = True
    seed: int = 1234


@dataclass
class TrainResult:
    """Per-epoch history (loss, train F1, validation F1, seconds), best epoch and its validation F1."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_f1: float = 0.0
    stopped: str = ""
    seconds: float = 0.0


def _oversample(examples: Sequence[Example], tags: Sequence[str], rare: Sequence[str], factor: int) -> list[Example]:
    if factor <= 1 or not rare:
        return list(examples)
    rare_ids = {i for i, t in enumerate(tags) if t[2:] in set(rare)}
    out = list(examples)
    for ex in examples:
        if rare_ids.intersection(ex.tags):
            out += [ex] * (factor - 1)
    return out


def train_ner(model: NerModel, train: Sequence[Example], val: Sequence[Example], config: TrainConfig, *,
              device: Any = "cpu", show_progress: bool = True, ctx: Any = None) -> TrainResult:
    """Train ``model`` with validation after each epoch and early stopping; return the history (chapter 12).

    Two learning rates: ``lr_encoder`` for the embedding or BERT, ``lr_head`` for BiLSTM, Linear and CRF.
    Chunks holding a rare type are repeated ``rare_oversample`` times per epoch. The weights of the best
    validation epoch are restored at the end (also when early stopping is off: then it is just the record).
    With ``ema_decay`` (e.g. 0.998), torch's ``AveragedModel`` keeps an exponential moving average of the
    weights, updated after every step; validation, the best state and the returned model use the average,
    which smooths the step-to-step noise of a validation F1 that has levelled off. A BERT encoder runs under
    mixed precision on a GPU (float16 with a gradient scaler where the card lacks bfloat16).

    Data parallel (``ctx``, a :class:`course_utils.distributed.DistributedContext` of a ``torchrun`` launch):
    every process draws the same global batches of ``batch_size`` chunks and trains on its share
    (:func:`course_utils.distributed.shard_batch`); ``DistributedDataParallel`` averages the gradients, and the
    loss is normalised by the global batch's characters (:meth:`NerModel.loss`), so a step equals one step on
    the whole batch. A last batch with fewer chunks than processes is skipped. Rank 0 alone validates; its
    scores reach the others, so all stop together. ``device`` is ignored when ``ctx`` is given (each process
    uses ``ctx.device``).
    """
    from ...device import amp_dtype
    from ...distributed import DistributedContext, all_reduce_mean, shard_batch, wrap_model
    from ...progress import progress
    from ...seeding import seed_everything

    if ctx is None:
        ctx = DistributedContext(0, 1, 0, torch.device(device))
    device = ctx.device
    rng = seed_everything(config.seed)
    model.to(device)
    optimiser = torch.optim.AdamW([
        {"params": model.encoder_parameters(), "lr": config.lr_encoder},
        {"params": model.head_parameters(), "lr": config.lr_head},
    ], weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler(torch.device(device).type,
                                  enabled=model.bert is not None and amp_dtype(device) == torch.float16)
    net = wrap_model(model, ctx)
    data = _oversample(train, model.tags, config.rare_types, config.rare_oversample)
    averaged = None
    if config.ema_decay is not None:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        # buffers (the bigram keys) are constants: the copy keeps them; only the weights are averaged
        averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay))
    scored = averaged.module if averaged is not None else model
    sample_idx = rng.choice(len(train), size=min(config.train_f1_sample, len(train)), replace=False)
    train_sample = [train[int(i)] for i in sample_idx]
    result = TrainResult()
    best_state: dict[str, torch.Tensor] | None = None
    started = time.perf_counter()
    waited = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        total, steps = 0.0, 0
        groups = _batch_groups(data, config.batch_size, rng)
        if ctx.distributed:
            groups = [g for g in groups if len(g) >= ctx.world_size]
        shown = show_progress and ctx.is_main
        iterator = progress(groups, desc=f"epoch {epoch}", leave=False) if shown else groups
        out_of_time = False
        for group in iterator:
            mine = shard_batch(group, ctx)
            ids, tags, mask = _pad(data, mine, device)
            normaliser = sum(len(data[i].ids) for i in group) / ctx.world_size
            loss = net(ids, tags, mask, normaliser)
            optimiser.zero_grad()
            scaler.scale(loss).backward()
            scaler.unscale_(optimiser)
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(optimiser)
            scaler.update()
            if averaged is not None:
                averaged.update_parameters(model)
            total += float(loss.detach())
            steps += 1
            if config.max_minutes:
                late = float(time.perf_counter() - started > 60 * config.max_minutes)
                if all_reduce_mean(late, ctx) > 0:  # every process stops at the same step
                    out_of_time = True
                    break
        val_f1 = train_f1 = 0.0
        if ctx.is_main:
            val_f1 = chunk_f1(scored, val, device=device)
            train_f1 = chunk_f1(scored, train_sample, device=device)
        val_f1, train_f1 = _from_main([val_f1, train_f1], ctx)
        record = dict(epoch=epoch, loss=all_reduce_mean(total / max(steps, 1), ctx), train_f1=train_f1,
                      val_f1=val_f1, seconds=time.perf_counter() - started, lr_head=optimiser.param_groups[-1]["lr"])
        result.history.append(record)
        if val_f1 > result.best_val_f1 or best_state is None:
            result.best_val_f1, result.best_epoch, waited = val_f1, epoch, 0
            best_state = {k: v.detach().clone() for k, v in scored.state_dict().items()}
        else:
            waited += 1
        if out_of_time:
            result.stopped = f"time limit {config.max_minutes} min reached in epoch {epoch}"
            break
        for group_lr in optimiser.param_groups:
            group_lr["lr"] *= config.lr_decay
        if config.early_stopping and waited >= config.patience:
            result.stopped = f"early stop: no better validation F1 for {config.patience} epochs"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - started
    result.stopped = result.stopped or "all epochs run"
    return result


def _from_main(values: Sequence[float], ctx: Any) -> list[float]:
    """Return rank 0's ``values`` on every process (one process: the values themselves)."""
    if not ctx.distributed:
        return [float(v) for v in values]
    import torch.distributed as dist

    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=ctx.device)
    dist.broadcast(tensor, 0)
    return [float(v) for v in tensor.tolist()]
