"""BioRED NER's model: a pretrained encoder with a token-classification head (``AutoModelForTokenClassification``),
its training loop (AdamW, warm-up and decay, clipping, autocast on a GPU, data parallel under torchrun),
prediction, throughput, saving and loading (chapter 13).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..biored import (
    BioDocument,
)
from .ner_encoding import (
    _IGNORE,
    TAGS,
    Encoding,
    IdDictionary,
    NerBioredError,
    _prepare_tokenizer,
    _with_mentions,
    decode_windows,
    encode_documents,
)

__all__ = ["SMOKE_TRAINING", "BioNerModel", "train_ner", "predict_mentions", "Throughput", "throughput", "save_ner", "load_ner"]

# Settings that train MiniLM on 40 synthetic abstracts in about 9 s of one idle CPU core (entity micro-F1 0.95-0.97
# on held-out synthetic abstracts): short windows, batches of 4, the embeddings and first 4 of 6 layers frozen,
# high learning rates. ``train_ner(docs, **SMOKE_TRAINING)``. Real BioRED wants the defaults (or a GPU).
SMOKE_TRAINING: dict[str, Any] = {"epochs": 4, "batch_size": 4, "max_length": 128, "lr": 2e-3, "head_lr": 2e-2,
                                  "freeze_layers": 4}
_CONFIG_FILE = "ner_biored.json"
_FORMAT_VERSION = 1


# ------------------------------------------------------------------------------------------------ the model


@dataclass
class BioNerModel:
    """A trained chapter-13 tagger: tokenizer, token-classification model, its tags and window settings.

    ``ids`` maps predicted surfaces to entity ids (fitted on the training mentions); ``history`` holds one row
    per epoch (mean loss, seconds); ``stats`` the labelling counts (:class:`TagStats`); ``settings`` the training
    arguments; ``last_throughput`` is the timing of the latest :func:`predict_mentions`.
    """

    tokenizer: Any
    model: Any
    labels: tuple[str, ...]
    max_length: int
    stride: int
    train_seconds: float = 0.0
    ids: IdDictionary = field(default_factory=IdDictionary)
    base_model: str = ""
    history: list[dict[str, float]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    last_throughput: Throughput | None = None

    @property
    def device(self) -> Any:
        """Return the device the model's weights are on (chapter 13)."""
        return next(self.model.parameters()).device


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide transformers' loading bar and load report (new classifier weights are expected here)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bar:
            hf_logging.enable_progress_bar()


def _build_model(name: str, labels: Sequence[str]) -> tuple[Any, Any]:
    """Return the tokenizer and a new token-classification model of encoder ``name`` (chapter 13).

    ``name`` goes through :mod:`course_utils.text.pretrained`: ``"minilm"`` (installed), a model manifest such as
    ``"biomedbert"`` (its verified folder in ``COURSE_DATA_DIR``; a missing or damaged folder raises with the fetch
    command) or a local folder. BiomedBERT's folder has no tokenizer files but ``vocab.txt``: transformers builds
    its uncased WordPiece tokenizer from it.
    """
    from transformers import AutoModelForTokenClassification

    from ...text.pretrained import load_tokenizer, model_folder

    tokenizer = load_tokenizer(name)
    where = str(model_folder(name))
    try:
        with _quiet_transformers():
            model = AutoModelForTokenClassification.from_pretrained(
                where, num_labels=len(labels), id2label=dict(enumerate(labels)),
                label2id={t: i for i, t in enumerate(labels)}, ignore_mismatched_sizes=True)
    except OSError as exc:
        raise NerBioredError(f"cannot load the encoder {name!r} from {where}: {exc}. For a model manifest, run "
                             f"`python -m course_utils.data fetch {name}`; in the smoke profile use the installed "
                             "'minilm'.") from exc
    return _prepare_tokenizer(tokenizer), model


def _batches(items: Sequence[tuple[list[int], list[int]]], batch_size: int, pad_id: int,
             rng: np.random.Generator | None) -> list[tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Return ``(indices, ids, mask, labels)`` batches; lengths bucketed, batches shuffled when ``rng`` is given."""
    lengths = np.array([len(ids) for ids, _ in items])
    keys = lengths + (rng.random(len(items)) * 8 if rng is not None else 0)
    order = np.argsort(keys, kind="stable")
    groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(groups)
    out = []
    for group in groups:
        width = int(lengths[group].max())
        ids = torch.full((len(group), width), pad_id, dtype=torch.long)
        labels = torch.full((len(group), width), _IGNORE, dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        for row, i in enumerate(group):
            seq, lab = items[i]
            ids[row, :len(seq)] = torch.tensor(seq)
            labels[row, :len(lab)] = torch.tensor(lab)
            mask[row, :len(seq)] = 1
        out.append(([int(i) for i in group], ids, mask, labels))
    return out


def _training_items(encodings: Sequence[Encoding], labels: Sequence[str]) -> list[tuple[list[int], list[int]]]:
    index = {t: i for i, t in enumerate(labels)}
    items = []
    for enc in encodings:
        assert enc.tags is not None
        first = enc.first
        for (a, _), ids, positions in zip(enc.spans, enc.input_ids, enc.positions, strict=True):
            lab = [_IGNORE] * len(ids)
            for k, p in enumerate(positions):
                if first[a + k]:
                    lab[p] = index[enc.tags[enc.words[a + k]]]
            items.append((ids, lab))
    return items


def _freeze(net: Any, layers: int) -> None:
    """Stop gradients to the embeddings and the first ``layers`` transformer layers of a BERT-style model."""
    if layers <= 0:
        return
    n_layers = int(getattr(net.config, "num_hidden_layers", 0))
    if layers > n_layers:
        raise NerBioredError(f"freeze_layers {layers} is more than the encoder's {n_layers} layers.")
    pattern = re.compile(r"\.embeddings\.|\.layer\.(\d+)\.")
    frozen = 0
    for name, param in net.named_parameters():
        found = pattern.search(name)
        if found and (found.group(1) is None or int(found.group(1)) < layers):
            param.requires_grad_(False)
            frozen += 1
    if not frozen:
        raise NerBioredError("freeze_layers needs a BERT-style encoder (parameters named *.embeddings.* and "
                             "*.layer.N.*); use freeze_layers=0 with this model.")


def train_ner(documents: Sequence[BioDocument], *, model: str = "minilm", epochs: int = 3, batch_size: int = 16,
              max_length: int = 256, stride: int | None = None, lr: float = 1e-4, head_lr: float = 1e-3,
              weight_decay: float = 0.01, warmup: float = 0.1, grad_clip: float = 1.0, freeze_layers: int = 0,
              seed: int = 1234, device: Any = None, show_progress: bool = True) -> BioNerModel:
    """Return a :class:`BioNerModel` fine-tuned on ``documents`` (first piece of each word labelled; chapter 13).

    ``model`` is ``"minilm"`` (the installed encoder), a model manifest name (lab/full: ``"biomedbert"``, its
    verified folder) or a local folder, loaded through :mod:`course_utils.text.pretrained`. Windows hold at most
    ``max_length`` ids and share ``stride`` pieces (default a quarter of a window). AdamW with ``lr`` for the
    encoder and ``head_lr`` for the new tag layer, linear warm-up over the first ``warmup`` share of the steps
    and linear decay to 0, gradient norm clipped at ``grad_clip``, bf16 (or fp16 with loss scaling) autocast
    on a CUDA GPU. ``freeze_layers`` > 0 keeps the embeddings and the first ``freeze_layers`` transformer
    layers as pretrained (no gradient: faster steps on a CPU). ``train_seconds`` of the result is the wall time
    of the loop. ``device`` defaults to ``$COURSE_DEVICE``, else the best available.

    Under ``torchrun`` (:mod:`course_utils.distributed`) each process takes its share of every global batch of
    ``batch_size`` windows; the loss is the mean over the labelled pieces of the global batch (each process divides
    its sum by the global count), so N processes take the steps one process would, each computing 1/N of every
    step. A last batch with fewer windows than processes is skipped; only rank 0 shows progress.
    """
    from transformers import get_linear_schedule_with_warmup

    from ...device import amp_dtype, autocast, pick_device
    from ...distributed import all_reduce_mean, init_distributed, unwrap_model, wrap_model
    from ...progress import progress_bar
    from ...seeding import seed_everything

    if not documents:
        raise NerBioredError("train_ner got no documents; give at least one annotated abstract.")
    if epochs < 1 or batch_size < 1:
        raise NerBioredError(f"epochs ({epochs}) and batch_size ({batch_size}) must be at least 1.")
    rng = seed_everything(seed)
    ctx = init_distributed(pick_device(None if device is None else str(device)))
    dev = ctx.device
    labels = TAGS
    tokenizer, net = _build_model(model, labels)
    limit = int(getattr(net.config, "max_position_embeddings", max_length))
    if max_length > limit:
        raise NerBioredError(f"max_length {max_length} is longer than {model!r} allows ({limit} positions); "
                             f"use {limit} or less: longer abstracts are split into windows anyway.")
    if stride is None:
        stride = max(0, max_length - tokenizer.num_special_tokens_to_add(pair=False)) // 4
    encodings, stats = encode_documents(tokenizer, documents, max_length=max_length, stride=stride, with_tags=True)
    items = _training_items(encodings, labels)
    _freeze(net, freeze_layers)
    net.to(dev)
    head = {n for n, _ in net.named_parameters() if n.startswith("classifier")}
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups: dict[tuple[bool, bool], list[Any]] = defaultdict(list)
    for name, param in net.named_parameters():
        if param.requires_grad:
            groups[(name in head, not name.endswith(no_decay))].append(param)
    optimiser = torch.optim.AdamW([
        {"params": params, "lr": head_lr if is_head else lr, "weight_decay": weight_decay if decays else 0.0}
        for (is_head, decays), params in groups.items()])
    steps_per_epoch = math.ceil(len(items) / batch_size)
    total = steps_per_epoch * epochs
    scheduler = get_linear_schedule_with_warmup(optimiser, int(round(warmup * total)), total)
    scaler = torch.amp.GradScaler(dev.type, enabled=amp_dtype(dev) == torch.float16)
    history: list[dict[str, float]] = []
    bar = progress_bar(total, desc="training NER", unit="batch", disable=not (show_progress and ctx.is_main),
                       leave=False)
    started = time.perf_counter()
    model_ = wrap_model(net, ctx)  # net itself when one process runs
    model_.train()
    for epoch in range(1, epochs + 1):
        losses = []
        for _, ids, mask, lab in _batches(items, batch_size, tokenizer.pad_token_id or 0, rng):
            if len(ids) < ctx.world_size:  # a process would get no window
                bar.update(1)
                continue
            # this process's rows of the global batch (the same batches on every process: same seed)
            share = slice(ctx.rank, None, ctx.world_size)
            ids, mask, lab = ids[share].to(dev), mask[share].to(dev), lab[share].to(dev)
            with autocast(dev):
                logits = model_(input_ids=ids, attention_mask=mask).logits
            loss_sum = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), lab.flatten(),
                                                         ignore_index=_IGNORE, reduction="sum")
            labelled = float((lab != _IGNORE).sum())
            count = all_reduce_mean(labelled, ctx) * ctx.world_size if ctx.distributed else labelled
            # the mean over the global batch's labelled pieces; x world size because DDP averages gradients
            loss = loss_sum / max(count, 1.0) * ctx.world_size
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimiser)
            torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
            scaler.step(optimiser)
            scaler.update()
            scheduler.step()
            losses.append(all_reduce_mean(float(loss.detach()), ctx) if ctx.distributed else float(loss.detach()))
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{losses[-1]:.3f}")
        history.append({"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan"),
                        "seconds": time.perf_counter() - started})
    bar.close()
    seconds = time.perf_counter() - started
    net = unwrap_model(model_)
    net.eval()
    settings = {"epochs": epochs, "batch_size": batch_size, "max_length": max_length, "stride": stride, "lr": lr,
                "head_lr": head_lr, "weight_decay": weight_decay, "warmup": warmup, "grad_clip": grad_clip,
                "freeze_layers": freeze_layers, "seed": seed, "device": str(dev), "documents": len(documents),
                "processes": ctx.world_size}
    return BioNerModel(tokenizer, net, labels, max_length, stride, seconds, IdDictionary.fit(documents), model,
                       history, dataclasses.asdict(stats), settings)


@dataclass(frozen=True)
class Throughput:
    """How fast a tagger ran: documents, seconds, documents per second (chapter 13)."""

    documents: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Return documents per second (0 when no time was measured; chapter 13)."""
        return self.documents / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        return f"{self.documents} abstracts in {self.seconds:.2f} s ({self.per_second:.1f} abstracts/s)"


@torch.inference_mode()
def predict_mentions(model: BioNerModel, documents: Sequence[BioDocument], *, id_dictionary: IdDictionary | None = None,
                     batch_size: int = 32, show_progress: bool = False) -> list[BioDocument]:
    """Return ``documents`` with their mentions replaced by predicted ones and no relations (chapter 13).

    Every word piece is predicted once, from the window in which it lies farthest from an edge. Ids come from
    ``id_dictionary`` (default: the model's, fitted on its training mentions), placeholders otherwise. The
    timing is left in ``model.last_throughput``.
    """
    from ...device import autocast
    from ...progress import progress_bar

    started = time.perf_counter()
    encodings, _ = encode_documents(model.tokenizer, documents, max_length=model.max_length, stride=model.stride)
    refs = [(d, w) for d, enc in enumerate(encodings) for w in range(len(enc.spans))]
    items = [(encodings[d].input_ids[w], []) for d, w in refs]
    window_tags: list[list[list[str]]] = [[[] for _ in enc.spans] for enc in encodings]
    net, dev = model.model, model.device
    was_training = net.training
    net.eval()
    batches = _batches(items, batch_size, model.tokenizer.pad_token_id or 0, None) if items else []
    bar = progress_bar(len(items), desc="tagging", unit="window", disable=not show_progress, leave=False)
    for group, ids, mask, _ in batches:
        with autocast(dev):
            logits = net(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
        best = logits.argmax(-1).cpu().numpy()
        for row, i in enumerate(group):
            d, w = refs[i]
            window_tags[d][w] = [model.labels[int(best[row, p])] for p in encodings[d].positions[w]]
        bar.update(len(group))
    bar.close()
    net.train(was_training)
    ids = id_dictionary if id_dictionary is not None else model.ids
    out = [_with_mentions(doc, decode_windows(enc, tags), ids)
           for doc, enc, tags in zip(documents, encodings, window_tags, strict=True)]
    model.last_throughput = Throughput(len(documents), time.perf_counter() - started)
    return out


def throughput(model: BioNerModel, documents: Sequence[BioDocument], *, batch_size: int = 32) -> Throughput:
    """Return how many abstracts per second :func:`predict_mentions` tags (one timed run; chapter 13)."""
    predict_mentions(model, documents, batch_size=batch_size)
    assert model.last_throughput is not None
    return model.last_throughput


# ------------------------------------------------------------------------------------------------ save / load


def save_ner(model: BioNerModel, folder: str | os.PathLike[str]) -> Path:
    """Write the model, its tokenizer and ``ner_biored.json`` into ``folder`` atomically; return it (chapter 13).

    Everything goes into a temporary sibling folder first, which replaces ``folder`` only when complete.
    """
    from ...paths import staged_directory

    meta = {"format": _FORMAT_VERSION, "labels": list(model.labels), "max_length": model.max_length,
            "stride": model.stride, "train_seconds": model.train_seconds, "base_model": model.base_model,
            "history": model.history, "stats": model.stats, "settings": model.settings,
            "ids": model.ids.to_json()}
    with staged_directory(folder) as tmp:
        model.model.save_pretrained(tmp)
        model.tokenizer.save_pretrained(tmp)
        (Path(tmp) / _CONFIG_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
    return Path(folder)


def load_ner(folder: str | os.PathLike[str], *, device: Any = None) -> BioNerModel:
    """Return the :class:`BioNerModel` saved in ``folder`` by :func:`save_ner`, on ``device`` (chapter 13)."""
    from transformers import AutoModelForTokenClassification

    from ...device import pick_device
    from ...text.pretrained import load_tokenizer

    root = Path(folder)
    hint = (f"Train one with `python -m course_utils.ie.relations.ner train --train FILE --out {root}` "
            "(or save_ner(model, folder) in Python).")
    if not root.is_dir():
        raise NerBioredError(f"model folder {root} does not exist. {hint}")
    missing = [name for name in (_CONFIG_FILE, "config.json", "tokenizer_config.json") if not (root / name).is_file()]
    if not any((root / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
        missing.append("model.safetensors")
    if missing:
        raise NerBioredError(f"model folder {root} is incomplete: {', '.join(missing)} missing. {hint}")
    try:
        meta = json.loads((root / _CONFIG_FILE).read_text(encoding="utf-8"))
        labels = tuple(meta["labels"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise NerBioredError(f"{root / _CONFIG_FILE} cannot be read ({exc}). {hint}") from exc
    tokenizer = load_tokenizer(str(root))  # a local folder: the same set-up as every course tokenizer
    with _quiet_transformers():
        net = AutoModelForTokenClassification.from_pretrained(str(root))
    dev = pick_device(None if device is None else str(device))
    net.to(dev)
    net.eval()
    return BioNerModel(_prepare_tokenizer(tokenizer), net, labels, int(meta["max_length"]), int(meta["stride"]),
                       float(meta.get("train_seconds", 0.0)), IdDictionary.from_json(meta.get("ids", [])),
                       str(meta.get("base_model", "")), list(meta.get("history", [])), dict(meta.get("stats", {})),
                       dict(meta.get("settings", {})))
