"""Relation and novelty classifiers over all candidate entity pairs, one encoder pass per document (chapter 13).

Each document is encoded once with a typed marker token before every mention (``<GeneOrGeneProduct>``, ...);
an entity id is represented by the mean of the encoder states at the markers of its mentions, and every
candidate pair (the no-relation pairs included) is classified from ``[h1 + h2, h1 * h2, |h1 - h2|]`` (symmetric:
BioRED relations are undirected) by a relation head and a novelty head. Encoders: ``lstm`` and ``rnn``
(bidirectional, over learned word embeddings) and ``transformer`` (a small encoder trained from scratch).

Commands::

    python -m course_utils.ie.relations train --train FILE.PubTator --model lstm --out MODEL_DIR
    python -m course_utils.ie.relations predict --model-dir MODEL_DIR --input FILE.PubTator --out PRED.PubTator
    python -m course_utils.ie.relations score --gold GOLD.PubTator --pred PRED.PubTator
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from course_utils.errors import CourseError
from course_utils.ie.biored import (
    NO_RELATION,
    BioDocument,
    PairExample,
    Relation,
    biored_metrics,
    labelled_pairs,
    read_pubtator,
    relation_scores,
    write_pubtator,
)
from course_utils.progress import progress
from course_utils.seeding import seed_everything

__all__ = ["ENCODERS", "RelationModelError", "EncodedDocument", "RelationClassifier", "train_relations",
           "predict_relations", "documents_with_relations", "save_classifier", "load_classifier", "main"]

ENCODERS = ("lstm", "rnn", "transformer")
_TOKEN = re.compile(r"\w[\w\-]*|[^\w\s]")


class RelationModelError(CourseError, ValueError):
    """A relation model that cannot be built, trained or loaded as asked (chapter 13)."""


@dataclass
class EncodedDocument:
    """A document as marker-augmented tokens: token ids, entity ids, marker positions per entity, pairs."""

    doc: BioDocument
    tokens: list[str]
    entity_ids: list[str]
    positions: list[list[int]]
    pairs: list[PairExample]


def _marked_tokens(doc: BioDocument) -> tuple[list[str], dict[str, list[int]], list[tuple[int, int]]]:
    """Return word tokens with a typed marker before each mention, marker positions per id, and char spans."""
    text = doc.text
    starts: dict[int, list] = {}
    for m in doc.mentions:
        starts.setdefault(m.start, []).append(m)
    tokens: list[str] = []
    spans: list[tuple[int, int]] = []
    positions: dict[str, list[int]] = {}
    pending = sorted(starts)
    k = 0
    for match in _TOKEN.finditer(text):
        while k < len(pending) and pending[k] <= match.start():
            for m in starts[pending[k]]:
                for eid in m.ids:
                    positions.setdefault(eid, []).append(len(tokens))
                tokens.append(f"<{m.type}>")
                spans.append((m.start, m.start))
            k += 1
        tokens.append(match.group().lower())
        spans.append(match.span())
    return tokens, positions, spans


def _encode(doc: BioDocument) -> EncodedDocument:
    tokens, positions, _ = _marked_tokens(doc)
    pairs = labelled_pairs(doc)
    ids = sorted(positions)
    return EncodedDocument(doc, tokens, ids, [positions[i] for i in ids], pairs)


class _Net(nn.Module):
    def __init__(self, kind: str, vocab_size: int, n_relations: int, dim: int, input_dim: int | None) -> None:
        super().__init__()
        self.kind = kind
        self.inp = nn.Embedding(vocab_size, dim, padding_idx=0)
        if kind == "lstm":
            self.enc: nn.Module = nn.LSTM(dim, dim // 2, batch_first=True, bidirectional=True)
        elif kind == "rnn":
            self.enc = nn.RNN(dim, dim // 2, batch_first=True, bidirectional=True)
        else:
            self.pos = nn.Embedding(512, dim)
            layer = nn.TransformerEncoderLayer(dim, 4, 2 * dim, dropout=0.1, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.pair = nn.Sequential(nn.Linear(3 * dim, dim), nn.ReLU(), nn.Dropout(0.1))
        self.relation = nn.Linear(dim, n_relations)
        self.novelty = nn.Linear(dim, 2)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor, ent_index: torch.Tensor, ent_weight: torch.Tensor,
                pair_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.inp(inputs)
        if self.kind in ("lstm", "rnn"):
            h, _ = self.enc(x)
        else:
            x = x + self.pos(torch.arange(x.shape[1], device=x.device))[None]
            h = self.enc(x, src_key_padding_mask=~mask)
        flat = h.reshape(-1, h.shape[-1])
        # entity representation: weighted sum (mean) of the states at its marker positions
        n_ent = int(ent_index[:, 0].max().item()) + 1 if len(ent_index) else 0
        ents = torch.zeros(n_ent, flat.shape[-1], device=flat.device).index_add_(
            0, ent_index[:, 0], flat[ent_index[:, 1]] * ent_weight[:, None])
        h1, h2 = ents[pair_index[:, 0]], ents[pair_index[:, 1]]
        z = self.pair(torch.cat([h1 + h2, h1 * h2, (h1 - h2).abs()], dim=-1))
        return self.relation(z), self.novelty(z)


@dataclass
class RelationClassifier:
    """A trained relation + novelty classifier: network, vocabulary, relation labels, settings (chapter 13)."""

    kind: str
    net: _Net
    vocab: dict[str, int]
    labels: list[str]
    dim: int
    train_seconds: float = 0.0

    def _inputs(self, batch: Sequence[EncodedDocument]) -> tuple[torch.Tensor, ...]:
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


def train_relations(documents: Sequence[BioDocument], *, kind: str = "lstm", epochs: int = 8, batch_size: int = 8,
                    dim: int = 64, lr: float = 3e-3, seed: int = 1234, none_weight: float = 0.5) -> RelationClassifier:
    """Return a relation + novelty classifier trained on every candidate pair of ``documents`` (chapter 13).

    ``none_weight`` down-weights the (many) no-relation pairs in the relation loss; novelty is learned on the
    related pairs only.
    """
    if kind not in ENCODERS:
        raise RelationModelError(f"unknown encoder {kind!r}; choose one of {', '.join(ENCODERS)}")
    seed_everything(seed)
    start = time.perf_counter()
    encoded = [_encode(d) for d in documents if d.mentions]
    encoded = [e for e in encoded if e.pairs]
    if not encoded:
        raise RelationModelError("no document with at least two entity ids to train on; check the input file")
    vocab: dict[str, int] = {"<pad>": 0, "<unk>": 1}
    for e in encoded:
        for t in e.tokens:
            vocab.setdefault(t, len(vocab))
    labels = [NO_RELATION] + sorted({p.relation for e in encoded for p in e.pairs} - {NO_RELATION})
    net = _Net(kind, len(vocab), len(labels), dim, 384)
    clf = RelationClassifier(kind, net, vocab, labels, dim)
    label_index = {label: i for i, label in enumerate(labels)}
    weight = torch.ones(len(labels))
    weight[0] = none_weight
    rel_loss, nov_loss = nn.CrossEntropyLoss(weight=weight), nn.CrossEntropyLoss()
    opt = torch.optim.AdamW(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    net.train()
    for _ in progress(range(epochs), desc=f"train {kind}"):
        order = rng.permutation(len(encoded))
        for b in range(0, len(encoded), batch_size):
            batch = [encoded[i] for i in order[b: b + batch_size]]
            inputs = clf._inputs(batch)
            rel_logits, nov_logits = net(*inputs)
            pairs = [p for e in batch for p in e.pairs]
            y = torch.tensor([label_index.get(p.relation, 0) for p in pairs])
            loss = rel_loss(rel_logits, y)
            related = torch.tensor([p.relation != NO_RELATION and p.novel is not None for p in pairs])
            if related.any():
                yn = torch.tensor([bool(p.novel) for p in pairs], dtype=torch.long)
                loss = loss + nov_loss(nov_logits[related], yn[related])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    clf.train_seconds = time.perf_counter() - start
    return clf


def predict_relations(clf: RelationClassifier, documents: Sequence[BioDocument], *,
                      batch_size: int = 16) -> list[PairExample]:
    """Return every candidate pair of ``documents`` labelled with a predicted relation and novelty (chapter 13)."""
    encoded = [e for e in (_encode(d) for d in documents) if e.pairs]
    out: list[PairExample] = []
    clf.net.eval()
    with torch.no_grad():
        for b in range(0, len(encoded), batch_size):
            batch = encoded[b: b + batch_size]
            rel_logits, nov_logits = clf.net(*clf._inputs(batch))
            rel = rel_logits.argmax(-1).tolist()
            nov = nov_logits.argmax(-1).tolist()
            pairs = [p for e in batch for p in e.pairs]
            for p, r, n in zip(pairs, rel, nov, strict=True):
                label = clf.labels[r]
                out.append(replace(p, relation=label, novel=bool(n) if label != NO_RELATION else None))
    return out


def documents_with_relations(documents: Sequence[BioDocument], pairs: Sequence[PairExample]) -> list[BioDocument]:
    """Return the documents with their relations replaced by the predicted ones (chapter 13)."""
    by_doc: dict[str, list[Relation]] = {}
    for p in pairs:
        if p.relation != NO_RELATION:
            by_doc.setdefault(p.doc_id, []).append(Relation(p.relation, p.id1, p.id2, p.novel))
    return [replace(d, relations=tuple(by_doc.get(d.doc_id, []))) for d in documents]


def save_classifier(clf: RelationClassifier, folder: str | Path) -> Path:
    """Return the folder the classifier was saved to (weights.pt + config.json) (chapter 13)."""
    from course_utils.paths import staged_directory

    folder = Path(folder)
    with staged_directory(folder) as tmp:
        torch.save(clf.net.state_dict(), tmp / "weights.pt")
        (tmp / "config.json").write_text(json.dumps({"kind": clf.kind, "vocab": clf.vocab, "labels": clf.labels,
                                                     "dim": clf.dim, "train_seconds": clf.train_seconds}))
    return folder


def load_classifier(folder: str | Path) -> RelationClassifier:
    """Return a classifier saved by :func:`save_classifier` (chapter 13)."""
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise RelationModelError(f"{config_path} not found: train a model first "
                                 "(python -m course_utils.ie.relations train ...)")
    config = json.loads(config_path.read_text())
    net = _Net(config["kind"], len(config["vocab"]), len(config["labels"]), config["dim"], 384)
    net.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu", weights_only=True))
    net.eval()
    return RelationClassifier(config["kind"], net, config["vocab"], config["labels"], config["dim"],
                              config.get("train_seconds", 0.0))


def _read(path: str) -> list[BioDocument]:
    return list(read_pubtator(path).documents)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chapter-13 commands train / predict / score; return the exit status (chapter 13)."""
    parser = argparse.ArgumentParser(prog="python -m course_utils.ie.relations", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a relation + novelty classifier on a PubTator file")
    t.add_argument("--train", required=True)
    t.add_argument("--model", default="lstm", choices=ENCODERS)
    t.add_argument("--epochs", type=int, default=8)
    t.add_argument("--out", required=True)
    p = sub.add_parser("predict", help="predict relations and novelty between the entities of a PubTator file")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    s = sub.add_parser("score", help="score predicted relations against gold (BioRED's three metrics, P/R/F1)")
    s.add_argument("--gold", required=True)
    s.add_argument("--pred", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            clf = train_relations(_read(args.train), kind=args.model, epochs=args.epochs)
            save_classifier(clf, args.out)
            print(f"trained {args.model} in {clf.train_seconds:.1f} s -> {args.out}")
        elif args.command == "predict":
            clf = load_classifier(args.model_dir)
            docs = _read(args.input)
            start = time.perf_counter()
            pairs = predict_relations(clf, docs)
            seconds = time.perf_counter() - start
            write_pubtator(documents_with_relations(docs, pairs), args.out)
            print(f"{len(docs)} abstracts in {seconds:.2f} s ({len(docs) / max(seconds, 1e-9):.1f} abstracts/s) "
                  f"-> {args.out}")
        else:
            gold, pred = _read(args.gold), _read(args.pred)
            for name, score in biored_metrics(gold, pred).items():
                print(f"{name}\tP={score.precision:.3f}\tR={score.recall:.3f}\tF1={score.f1:.3f}")
            rs = relation_scores(gold, pred)
            print(f"relation micro-F1={rs.micro_f1:.3f} macro-F1={rs.macro_f1:.3f}")
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
