"""Chapter 13's relation and novelty classifier: encoders (BiLSTM, RNN, small Transformer, or a pretrained one
fine-tuned end to end), the symmetric pair representation ``[h1 + h2, h1 * h2, |h1 - h2|]`` with a relation
head and a novelty head, training (data parallel under torchrun), prediction, saving and loading (chapter 13).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_utils.ie.biored import (
    ENTITY_TYPES,
    NO_RELATION,
    BioDocument,
    PairExample,
    Relation,
)
from course_utils.progress import progress_bar
from course_utils.seeding import seed_everything

from .relation_inputs import (
    _GENERIC_MARKER,
    KINDS,
    EncodedDocument,
    RelationModelError,
    _best_window,
    _encode,
    _encode_pretrained,
    marker_token,
    window_starts,
)

__all__ = ["RelationClassifier", "train_relations", "predict_relations", "documents_with_relations", "save_classifier",
           "load_classifier"]

def _pool_and_classify(net: nn.Module, flat: torch.Tensor, ent_index: torch.Tensor, ent_weight: torch.Tensor,
                       pair_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # entity representation: weighted sum (mean) of the states at its marker positions
    n_ent = int(ent_index[:, 0].max().item()) + 1 if len(ent_index) else 0
    ents = torch.zeros(n_ent, flat.shape[-1], device=flat.device, dtype=flat.dtype).index_add_(
        0, ent_index[:, 0], flat[ent_index[:, 1]] * ent_weight[:, None].to(flat.dtype))
    h1, h2 = ents[pair_index[:, 0]], ents[pair_index[:, 1]]
    z = net.pair(torch.cat([h1 + h2, h1 * h2, (h1 - h2).abs()], dim=-1))
    return net.relation(z), net.novelty(z)


class _Net(nn.Module):
    def __init__(self, kind: str, vocab_size: int, n_relations: int, dim: int, input_dim: int | None,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.kind = kind
        self.inp = nn.Embedding(vocab_size, dim, padding_idx=0)
        if kind == "lstm":
            self.enc: nn.Module = nn.LSTM(dim, dim // 2, batch_first=True, bidirectional=True)
        elif kind == "rnn":
            self.enc = nn.RNN(dim, dim // 2, batch_first=True, bidirectional=True)
        else:
            self.pos = nn.Embedding(512, dim)
            layer = nn.TransformerEncoderLayer(dim, 4, 2 * dim, dropout=dropout, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.pair = nn.Sequential(nn.Linear(3 * dim, dim), nn.ReLU(), nn.Dropout(dropout))
        self.relation = nn.Linear(dim, n_relations)
        self.novelty = nn.Linear(dim, 2)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor, ent_index: torch.Tensor, ent_weight: torch.Tensor,
                pair_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.inp(inputs)
        if self.kind in ("lstm", "rnn"):
            # packed: the backward direction starts at each document's last token, not at the padding after it,
            # so a document's states do not depend on the longest document of its batch
            lengths = mask.sum(1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.enc(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        else:
            # a learned table of 512 positions; a longer document (11 BioRED Train abstracts are, with markers)
            # gives every later token the last position rather than failing
            positions = torch.arange(x.shape[1], device=x.device).clamp(max=self.pos.num_embeddings - 1)
            x = x + self.pos(positions)[None]
            h = self.enc(x, src_key_padding_mask=~mask)
        return _pool_and_classify(self, h.reshape(-1, h.shape[-1]), ent_index, ent_weight, pair_index)


class _PretrainedNet(nn.Module):
    """A Hugging Face encoder (``AutoModel``) under the same pair heads as :class:`_Net`."""

    def __init__(self, encoder: nn.Module, n_relations: int, dim: int) -> None:
        super().__init__()
        self.kind = "pretrained"
        self.encoder = encoder
        hidden = int(encoder.config.hidden_size)
        self.pair = nn.Sequential(nn.Linear(3 * hidden, dim), nn.ReLU(), nn.Dropout(0.1))
        self.relation = nn.Linear(dim, n_relations)
        self.novelty = nn.Linear(dim, 2)

    def head_state(self) -> dict[str, torch.Tensor]:
        """Return the state of the pair heads only (the encoder is saved with ``save_pretrained``)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor, ent_index: torch.Tensor, ent_weight: torch.Tensor,
                pair_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(input_ids=inputs, attention_mask=mask.long()).last_hidden_state
        return _pool_and_classify(self, h.float().reshape(-1, h.shape[-1]), ent_index, ent_weight, pair_index)


@dataclass
class RelationClassifier:
    """A trained relation + novelty classifier: network, vocabulary, relation labels, settings (chapter 13).

    For ``kind="pretrained"`` the vocabulary is the ``tokenizer``'s (with the marker tokens added), ``encoder``
    names the model it was fine-tuned from and ``max_length`` is the window length in WordPiece tokens.
    """

    kind: str
    net: nn.Module
    vocab: dict[str, int]
    labels: list[str]
    dim: int
    train_seconds: float = 0.0
    tokenizer: Any = None
    encoder: str | None = None
    max_length: int = 512
    stride: int = 128
    markers: list[str] = field(default_factory=list)

    @property
    def device(self) -> torch.device:
        """Return the device the network's weights are on (chapter 13)."""
        return next(self.net.parameters()).device

    def encode(self, documents: Sequence[BioDocument]) -> list[EncodedDocument]:
        """Return the documents with at least one candidate pair, encoded for this classifier (chapter 13)."""
        return [e for e in self._encode_all(documents) if e.pairs]

    def _encode_all(self, documents: Sequence[BioDocument]) -> list[EncodedDocument]:
        if self.kind == "pretrained":
            return _encode_pretrained(documents, self.tokenizer, self.markers)
        return [_encode(d) for d in documents]

    def _inputs(self, batch: Sequence[EncodedDocument]) -> tuple[torch.Tensor, ...]:
        if self.kind == "pretrained":
            return self._window_inputs(batch)
        width = max(len(e.tokens) for e in batch)
        inputs = torch.zeros(len(batch), width, dtype=torch.long)
        for i, e in enumerate(batch):
            inputs[i, : len(e.tokens)] = torch.tensor([self.vocab.get(t, 1) for t in e.tokens])
        mask = torch.zeros(len(batch), width, dtype=torch.bool)
        ent_rows, weights, pair_rows = [], [], []
        offset = 0
        for i, e in enumerate(batch):
            mask[i, : len(e.tokens)] = True
            local = {eid: offset + j for j, eid in enumerate(e.entity_ids)}
            for j, pos in enumerate(e.positions):
                for p in pos:
                    ent_rows.append((offset + j, i * width + p))
                    weights.append(1.0 / len(pos))
            pair_rows += [(local[p.id1], local[p.id2]) for p in e.pairs]
            offset += len(e.entity_ids)
        return (inputs, mask, torch.tensor(ent_rows, dtype=torch.long).reshape(-1, 2), torch.tensor(weights),
                torch.tensor(pair_rows, dtype=torch.long).reshape(-1, 2))

    def _window_inputs(self, batch: Sequence[EncodedDocument]) -> tuple[torch.Tensor, ...]:
        """One row per window ([CLS] piece [SEP]); each marker's state is read from its most central window."""
        cls, sep, pad = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id, self.tokenizer.pad_token_id or 0
        inner = self.max_length - 2
        rows: list[list[int]] = []
        ent_rows, weights, pair_rows = [], [], []
        offset = 0
        for e in batch:
            starts = window_starts(len(e.token_ids), inner, self.stride)
            first_row = len(rows)
            rows += [[cls, *e.token_ids[s:s + inner], sep] for s in starts]
            local = {eid: offset + j for j, eid in enumerate(e.entity_ids)}
            for j, pos in enumerate(e.positions):
                for p in pos:
                    w = _best_window(p, starts, inner)
                    ent_rows.append((offset + j, first_row + w, p - starts[w] + 1))
                    weights.append(1.0 / len(pos))
            pair_rows += [(local[p.id1], local[p.id2]) for p in e.pairs]
            offset += len(e.entity_ids)
        width = max(len(r) for r in rows)
        inputs = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, r in enumerate(rows):
            inputs[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = True
        ent = torch.tensor([(a, row * width + col) for a, row, col in ent_rows], dtype=torch.long).reshape(-1, 2)
        return (inputs, mask, ent, torch.tensor(weights), torch.tensor(pair_rows, dtype=torch.long).reshape(-1, 2))


def _pair_targets(pairs: Sequence[PairExample], label_index: dict[str, int], device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    y = torch.tensor([label_index.get(p.relation, 0) for p in pairs], device=device)
    related = torch.tensor([p.relation != NO_RELATION and p.novel is not None for p in pairs], device=device)
    yn = torch.tensor([bool(p.novel) for p in pairs], dtype=torch.long, device=device)
    return y, related, yn


def _load_pretrained(name: str, device: torch.device) -> tuple[Any, nn.Module]:
    from course_utils.text.pretrained import load_encoder

    tokenizer, encoder = load_encoder(name, device=device)
    return tokenizer, encoder


def _resolve_device(device: Any, kind: str) -> torch.device:
    """``device`` if given, else ``$COURSE_DEVICE``, else the best available (every kind; chapter 13)."""
    from course_utils.device import pick_device

    return pick_device(None if device is None else str(device))


def _global_count(value: float, ctx: Any) -> float:
    """Return the sum of ``value`` over all processes of ``ctx`` (the local value when there is one process)."""
    from course_utils.distributed import all_reduce_mean

    return all_reduce_mean(value, ctx) * ctx.world_size if ctx.distributed else float(value)


def _batch_loss(rel_logits: torch.Tensor, nov_logits: torch.Tensor, y: torch.Tensor, related: torch.Tensor,
                yn: torch.Tensor, class_weight: torch.Tensor, ctx: Any) -> torch.Tensor:
    """Return the relation + novelty loss of this process's share of a global batch (chapter 13).

    The relation loss is the class-weighted mean over the candidate pairs of the *global* batch and the novelty
    loss the mean over its related pairs: each process divides its sums by the global denominators (summed over
    processes) and multiplies by the number of processes, because ``DistributedDataParallel`` averages gradients.
    One step on P processes is then the step on one process with the whole batch. With one process this is
    ``CrossEntropyLoss(weight)`` plus the novelty mean, as before.
    """
    weights = class_weight[y]
    rel_sum = (nn.functional.cross_entropy(rel_logits.float(), y, reduction="none") * weights).sum()
    nov_sum = nn.functional.cross_entropy(nov_logits.float()[related], yn[related], reduction="sum")
    rel_den = _global_count(float(weights.sum()), ctx)
    nov_den = _global_count(float(related.sum()), ctx)
    loss = rel_sum / max(rel_den, 1e-12)
    if nov_den > 0:
        loss = loss + nov_sum / nov_den
    return loss * ctx.world_size


def train_relations(documents: Sequence[BioDocument], *, kind: str = "lstm", epochs: int = 8, batch_size: int = 8,
                    dim: int | None = None, lr: float = 3e-3, seed: int = 1234, none_weight: float = 0.5,
                    model: str = "minilm", encoder_lr: float = 1e-4, max_length: int = 512, stride: int = 128,
                    warmup: float = 0.1, encoder_layers: int | None = None, device: Any = None,
                    show_progress: bool = True, dropout: float = 0.1) -> RelationClassifier:
    """Return a relation + novelty classifier trained on every candidate pair of ``documents`` (chapter 13).

    ``none_weight`` down-weights the (many) no-relation pairs in the relation loss; novelty is learned on the
    related pairs only. ``kind`` is ``lstm``, ``rnn`` or ``transformer`` (trained from scratch, ``dim`` 64 by
    default, on the CPU unless ``device`` says otherwise) or ``pretrained``: the encoder ``model`` (``"minilm"``,
    a model manifest such as ``"biomedbert"`` or a local folder, through :mod:`course_utils.text.pretrained`)
    fine-tuned end to end with AdamW, ``encoder_lr`` for the encoder (1e-4 suits the small
    MiniLM; 2e-5 to 5e-5 is usual for a BERT-base model) and ``lr`` for the heads (``dim`` defaults to the
    encoder's width), each marker's new embedding row starting from the mean embedding of its type's words, ``warmup`` (a fraction of the steps) of linear warm-up then
    linear decay to 0, windows of ``max_length`` WordPiece tokens overlapping by ``stride``; ``encoder_layers``
    keeps only the encoder's first N transformer layers (half of MiniLM's six trains in half the time, for the
    smoke profile's budget; ``None`` keeps all), on ``device``
    (default :func:`course_utils.device.pick_device`, which honours ``COURSE_DEVICE``) with mixed precision on
    CUDA. ``dropout`` is the pair head's (and the from-scratch Transformer's). Seeded by ``seed``.

    Under ``torchrun`` (:mod:`course_utils.distributed`) each process takes its share of every global batch of
    ``batch_size`` documents and gradients are averaged, the loss normalised over the global batch, so N processes
    take the steps one process would, each computing 1/N of every step; a last global batch with fewer documents
    than processes is skipped. Every process returns the trained classifier; only rank 0 shows progress.
    """
    if kind not in KINDS:
        raise RelationModelError(f"unknown encoder {kind!r}; choose one of {', '.join(KINDS)}")
    from course_utils.distributed import init_distributed, shard_batch, unwrap_model, wrap_model

    seed_everything(seed)
    start = time.perf_counter()
    ctx = init_distributed(_resolve_device(device, kind))
    dev = ctx.device
    if kind == "pretrained":
        clf = _new_pretrained(documents, model, dim, max_length, stride, dev, encoder_layers)
        encoded = clf.encode([d for d in documents if d.mentions])
    else:
        encoded = [e for e in (_encode(d) for d in documents if d.mentions) if e.pairs]
    if not encoded:
        raise RelationModelError("no document with at least two entity ids to train on; check the input file")
    labels = [NO_RELATION] + sorted({p.relation for e in encoded for p in e.pairs} - {NO_RELATION})
    if kind == "pretrained":
        net = _PretrainedNet(clf.net, len(labels), clf.dim).to(dev)
        clf.net, clf.labels = net, labels
        optimiser = torch.optim.AdamW([
            {"params": list(net.encoder.parameters()), "lr": encoder_lr},
            {"params": [p for n, p in net.named_parameters() if not n.startswith("encoder.")], "lr": lr},
        ], weight_decay=0.01)
    else:
        vocab: dict[str, int] = {"<pad>": 0, "<unk>": 1}
        for e in encoded:
            for t in e.tokens:
                vocab.setdefault(t, len(vocab))
        d = dim or 64
        net = _Net(kind, len(vocab), len(labels), d, 384, dropout=dropout).to(dev)
        clf = RelationClassifier(kind, net, vocab, labels, d)
        optimiser = torch.optim.AdamW(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    label_index = {label: i for i, label in enumerate(labels)}
    weight = torch.ones(len(labels), device=dev)
    weight[0] = none_weight
    n_batches = (len(encoded) + batch_size - 1) // batch_size
    total_steps = max(epochs * n_batches, 1)
    scheduler = None
    if kind == "pretrained":
        warm = int(round(warmup * total_steps))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / (warm + 1)
            return max(0.0, (total_steps - step) / max(total_steps - warm, 1))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, factor)
    from course_utils.device import amp_dtype, autocast

    scaler = torch.amp.GradScaler("cuda") if amp_dtype(dev) == torch.float16 else None
    bar = progress_bar(total_steps, desc=f"train {kind}", unit="batch", disable=not (show_progress and ctx.is_main))
    model = wrap_model(net, ctx)  # net itself when one process runs
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(encoded))  # the same on every process (same seed): the same global batches
        for b in range(0, len(encoded), batch_size):
            global_batch = [encoded[i] for i in order[b: b + batch_size]]
            if len(global_batch) < ctx.world_size:  # a process would get no document
                bar.update(1)
                continue
            batch = shard_batch(global_batch, ctx)
            inputs = [t.to(dev) for t in clf._inputs(batch)]
            pairs = [p for e in batch for p in e.pairs]
            y, related, yn = _pair_targets(pairs, label_index, dev)
            with autocast(dev):
                rel_logits, nov_logits = model(*inputs)
            loss = _batch_loss(rel_logits, nov_logits, y, related, yn, weight, ctx)
            optimiser.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimiser)
            else:
                loss.backward()
            if kind == "pretrained":
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            if scaler is not None:
                scaler.step(optimiser)
                scaler.update()
            else:
                optimiser.step()
            if scheduler is not None:
                scheduler.step()
            bar.update(1)
    bar.close()
    clf.net = unwrap_model(model)
    clf.net.eval()
    clf.train_seconds = time.perf_counter() - start
    return clf


def _type_words(marker: str) -> str:
    """``<GeneOrGeneProduct>`` -> ``"gene or gene product"``: the words a marker's embedding starts from."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", marker[1:-1]).replace("_", " ").lower()


def _init_marker_embeddings(tokenizer: Any, encoder: nn.Module, markers: Sequence[str]) -> None:
    """Grow the embedding matrix by the marker tokens, each new row the mean embedding of its type's words.

    Rows drawn near the mean of the vocabulary (the library's default) start all markers alike, and at the
    encoder's small learning rate they stay alike for many steps: the model cannot tell a gene from a disease.
    """
    with torch.no_grad():
        encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        table = encoder.get_input_embeddings().weight
        for marker in markers:
            pieces = tokenizer(_type_words(marker), add_special_tokens=False)["input_ids"]
            if pieces:
                table[tokenizer.convert_tokens_to_ids(marker)] = table[pieces].mean(0)


def _keep_layers(encoder: nn.Module, n: int) -> None:
    """Keep the first ``n`` transformer layers of a BERT-like encoder (``encoder.encoder.layer``), config too."""
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise RelationModelError(f"cannot keep {n} layers of a {type(encoder).__name__}: it has no encoder.layer "
                                 "list; leave encoder_layers at None")
    if not 1 <= n <= len(layers):
        raise RelationModelError(f"encoder_layers={n}, but the encoder has {len(layers)} layers")
    encoder.encoder.layer = layers[:n]
    encoder.config.num_hidden_layers = n


def _new_pretrained(documents: Sequence[BioDocument], model: str, dim: int | None, max_length: int, stride: int,
                    device: torch.device, encoder_layers: int | None = None) -> RelationClassifier:
    """Return a pretrained-kind classifier whose ``net`` is still the bare encoder (heads are added once the
    labels are known): tokenizer with the marker tokens added, embedding matrix resized to match."""
    tokenizer, encoder = _load_pretrained(model, device)
    if encoder_layers is not None:
        _keep_layers(encoder, encoder_layers)
    types = sorted({m.type for d in documents for m in d.mentions} | set(ENTITY_TYPES))
    markers = [marker_token(t) for t in types] + [_GENERIC_MARKER]
    tokenizer.add_special_tokens({"additional_special_tokens": markers})
    _init_marker_embeddings(tokenizer, encoder, markers)
    positions = int(getattr(encoder.config, "max_position_embeddings", max_length))
    length = min(max_length, positions)
    if length < 8:
        raise RelationModelError(f"max_length {max_length} leaves no room for a window; use at least 8")
    hidden = int(encoder.config.hidden_size)
    clf = RelationClassifier("pretrained", encoder, {}, [], dim or hidden, tokenizer=tokenizer, encoder=model,
                             max_length=length, stride=min(stride, (length - 2) // 2), markers=markers)
    return clf


def predict_relations(clf: RelationClassifier, documents: Sequence[BioDocument], *,
                      batch_size: int = 16, related_only: bool = False) -> list[PairExample]:
    """Return every candidate pair of ``documents`` labelled with a predicted relation and novelty (chapter 13).

    The candidate pairs are those of the mentions the documents carry: gold mentions, or the mentions a NER
    model predicted (ids from its dictionary or placeholders), in which case a predicted relation can only be
    right when its two ids are the gold ids (:mod:`course_utils.ie.relations.pipeline`). With ``related_only`` the
    argmax runs over the relation types alone, never *None*: what a classifier trained, as the seed's were, only
    on related pairs would output, so its accuracy on the known pairs is the seed's setting (chapter 13).
    """
    from course_utils.device import autocast

    encoded = [(i, e) for i, e in enumerate(clf._encode_all(documents)) if e.pairs]
    if clf.kind == "pretrained":  # similar lengths together: less padding
        encoded.sort(key=lambda item: len(item[1].token_ids))
    dev = clf.device
    by_doc: dict[int, list[PairExample]] = {}
    clf.net.eval()
    with torch.no_grad():
        for b in range(0, len(encoded), batch_size):
            indexed = encoded[b: b + batch_size]
            batch = [e for _, e in indexed]
            with autocast(dev):
                rel_logits, nov_logits = clf.net(*[t.to(dev) for t in clf._inputs(batch)])
            rel_logits = rel_logits.float()
            if related_only and NO_RELATION in clf.labels:
                rel_logits[..., clf.labels.index(NO_RELATION)] = float("-inf")
            rel = rel_logits.argmax(-1).tolist()
            nov = nov_logits.float().argmax(-1).tolist()
            k = 0
            for i, e in indexed:
                out_doc = by_doc.setdefault(i, [])
                for p in e.pairs:
                    label = clf.labels[rel[k]]
                    out_doc.append(replace(p, relation=label, novel=bool(nov[k]) if label != NO_RELATION else None))
                    k += 1
    return [p for i in sorted(by_doc) for p in by_doc[i]]


def documents_with_relations(documents: Sequence[BioDocument], pairs: Sequence[PairExample]) -> list[BioDocument]:
    """Return the documents with their relations replaced by the predicted ones (chapter 13)."""
    by_doc: dict[str, list[Relation]] = {}
    for p in pairs:
        if p.relation != NO_RELATION:
            by_doc.setdefault(p.doc_id, []).append(Relation(p.relation, p.id1, p.id2, p.novel))
    return [replace(d, relations=tuple(by_doc.get(d.doc_id, []))) for d in documents]


def save_classifier(clf: RelationClassifier, folder: str | Path) -> Path:
    """Return the folder the classifier was saved to (weights.pt + config.json; for the pretrained kind the
    fine-tuned encoder and its tokenizer in ``encoder/`` and the heads in ``heads.pt``) (chapter 13).

    Everything is written into a temporary sibling folder that replaces ``folder`` only when complete, so an
    interrupted save never leaves a half-written model.
    """
    from course_utils.paths import staged_directory

    folder = Path(folder)
    config = {"kind": clf.kind, "vocab": clf.vocab, "labels": clf.labels, "dim": clf.dim,
              "train_seconds": clf.train_seconds}
    with staged_directory(folder) as tmp:
        if clf.kind == "pretrained":
            net: _PretrainedNet = clf.net  # type: ignore[assignment]
            net.encoder.save_pretrained(tmp / "encoder")
            clf.tokenizer.save_pretrained(tmp / "encoder")
            torch.save({k: v.detach().cpu() for k, v in net.head_state().items()}, tmp / "heads.pt")
            config.update(encoder=clf.encoder, max_length=clf.max_length, stride=clf.stride, markers=clf.markers)
        else:
            torch.save(clf.net.state_dict(), tmp / "weights.pt")
        (tmp / "config.json").write_text(json.dumps(config))
    return folder


def load_classifier(folder: str | Path, *, device: Any = None) -> RelationClassifier:
    """Return a classifier saved by :func:`save_classifier`, on ``device`` (default
    :func:`course_utils.device.pick_device`: ``$COURSE_DEVICE``, else the best available) (chapter 13)."""
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise RelationModelError(f"{config_path} not found: train a model first "
                                 "(python -m course_utils.ie.relations train ...)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        kind, labels = config["kind"], config["labels"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise RelationModelError(f"{config_path} cannot be read ({exc}): the model folder is damaged; train the "
                                 "model again") from None
    if kind not in KINDS or not isinstance(labels, list):
        raise RelationModelError(f"{config_path} names model kind {kind!r}, not one of {', '.join(KINDS)}; train "
                                 "the model again")
    weights = folder / ("heads.pt" if kind == "pretrained" else "weights.pt")
    if not weights.is_file():
        raise RelationModelError(f"{weights} not found: the model folder is incomplete; train the model again")
    dev = _resolve_device(device, config["kind"])
    if config["kind"] == "pretrained":
        from transformers import AutoModel

        from course_utils.text.pretrained import _quiet_loading, load_tokenizer

        tokenizer = load_tokenizer(str(folder / "encoder"))  # a local folder: truncation and padding off
        with _quiet_loading():
            encoder = AutoModel.from_pretrained(str(folder / "encoder"))
        net: nn.Module = _PretrainedNet(encoder, len(config["labels"]), config["dim"])
        missing = net.load_state_dict(torch.load(folder / "heads.pt", map_location="cpu", weights_only=True),
                                      strict=False)
        if missing.unexpected_keys or any(not k.startswith("encoder.") for k in missing.missing_keys):
            raise RelationModelError(f"{folder / 'heads.pt'} does not fit the saved configuration; train again")
        net.to(dev).eval()
        return RelationClassifier("pretrained", net, {}, config["labels"], config["dim"],
                                  config.get("train_seconds", 0.0), tokenizer=tokenizer, encoder=config["encoder"],
                                  max_length=config["max_length"], stride=config["stride"],
                                  markers=config["markers"])
    net = _Net(config["kind"], len(config["vocab"]), len(config["labels"]), config["dim"], 384)
    net.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu", weights_only=True))
    net.to(dev).eval()
    return RelationClassifier(config["kind"], net, config["vocab"], config["labels"], config["dim"],
                              config.get("train_seconds", 0.0))
