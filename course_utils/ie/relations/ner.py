"""BioRED NER as word-piece token classification, a dictionary baseline, entity ids, scores, commands (chapter 13).

The model is a pretrained encoder (default: the installed all-MiniLM-L6-v2, ``model="minilm"``; in lab/full the
manifest ``"biomedbert"``, loaded from its verified folder by :mod:`course_utils.text.pretrained`) with a linear layer over BIO tags of the six BioRED entity types (13 tags), built by
``AutoModelForTokenClassification`` and trained with a plain PyTorch loop (AdamW, linear warm-up and decay,
gradient clipping, bf16/fp16 autocast on a GPU).

Labelling policy (stated once, used by training and decoding alike):

* a *word* is what the tokenizer's pre-tokenizer yields (BERT: a run of letters and digits, or one punctuation
  mark; ``IL-6`` is three words), split further into word pieces (``rfmomab`` -> ``rf ##mo ##ma ##b``);
* **the first piece of each word carries the word's tag** (``B-type`` for the first word of a mention, ``I-type``
  for the others, ``O`` outside); the other pieces are not labelled (no loss) and their predictions are not used.
  With every piece labelled a model must also learn ``I`` on each ``##`` piece, and an argmax that misses one
  cuts a name in two: in the same short training on the smoke data that gave entity F1 0.35 against 0.58;
* a word that overlaps a mention belongs to it; a mention whose ends fall inside a word is widened to whole words
  (counted in :class:`TagStats` as ``misaligned``); of overlapping mentions the longer (then the earlier) is
  kept and the others are counted as ``overlapping``;
* predicted word tags are decoded (a stray ``I-X`` opens a mention) and each span becomes
  ``text[start of its first word : end of its last word]``; character offsets come from the tokenizer's
  ``return_offsets_mapping``, so ``doc.text[m.start:m.end] == m.text`` always holds and spans carry no outer
  whitespace.

Long abstracts (BioRED has some over 512 pieces) are cut by the tokenizer itself into overlapping windows
(``return_overflowing_tokens=True``, ``stride`` pieces shared by neighbours); every piece is predicted once,
from the window in which it lies farthest from an edge (:func:`course_utils.ie.bio.merge_windows`).

Predicted mentions get entity ids from an :class:`IdDictionary` fitted on the training mentions (normalised
surface + type -> most frequent ids), or a placeholder ``?type:surface`` shared by equal surfaces, so relation
extraction can run on predicted entities. :class:`DictionaryTagger` is the baseline: longest-match,
case-insensitive lookup of every training surface.

Commands (``python -m course_utils.ie.relations.ner --help``)::

    python -m course_utils.ie.relations.ner train   --train FILE --out DIR [--model minilm] [--epochs 3]
    python -m course_utils.ie.relations.ner predict --model-dir DIR --input FILE --out FILE.PubTator
    python -m course_utils.ie.relations.ner score   --gold FILE --pred FILE.PubTator

Input files are PubTator by default; ``--format litcoin`` reads LitCoin abstracts (``--entities`` names the
entities file where gold mentions are needed).

On several GPUs of one machine, ``train`` runs data-parallel under PyTorch's launcher (:mod:`course_utils.distributed`;
``--batch-size`` stays the global batch, shared among the processes; rank 0 prints and saves)::

    torchrun --standalone --nproc_per_node 4 -m course_utils.ie.relations.ner train --train FILE --out DIR --model biomedbert
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import re
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...commands import Verb, non_negative_int, positive_int, run_command
from ...errors import CourseError
from ..bio import bio_to_spans, merge_windows, tag_names
from ..biored import (
    ENTITY_TYPES,
    BioDocument,
    EntityMention,
    check_output,
    read_litcoin,
    read_pubtator,
    write_pubtator,
)
from ..scoring import Mention, SpanScores, error_classes, score_mentions, scores_table

__all__ = [
    "NerBioredError",
    "TAGS",
    "SMOKE_TRAINING",
    "normalise_surface",
    "TagStats",
    "Encoding",
    "encode_documents",
    "decode_words",
    "decode_windows",
    "IdDictionary",
    "BioNerModel",
    "train_ner",
    "predict_mentions",
    "Throughput",
    "throughput",
    "DictionaryTagger",
    "to_scoring_mentions",
    "entity_scores",
    "unseen_entity_scores",
    "save_ner",
    "load_ner",
    "read_documents",
    "main",
]

TAGS: tuple[str, ...] = tag_names(ENTITY_TYPES)
# Settings that train MiniLM on 40 synthetic abstracts in about 9 s of one idle CPU core (entity micro-F1 0.95-0.97
# on held-out synthetic abstracts): short windows, batches of 4, the embeddings and first 4 of 6 layers frozen,
# high learning rates. ``train_ner(docs, **SMOKE_TRAINING)``. Real BioRED wants the defaults (or a GPU).
SMOKE_TRAINING: dict[str, Any] = {"epochs": 4, "batch_size": 4, "max_length": 128, "lr": 2e-3, "head_lr": 2e-2,
                                  "freeze_layers": 4}
_CONFIG_FILE = "ner_biored.json"
_FORMAT_VERSION = 1
_IGNORE = -100  # label of special tokens and padding: no loss


class NerBioredError(CourseError, ValueError):
    """A chapter-13 NER model folder, input file, setting or command argument that cannot be used."""


def normalise_surface(text: str) -> str:
    """Return ``text`` lower-cased with runs of whitespace collapsed to one space (the id key; chapter 13)."""
    return " ".join(text.lower().split())


# ------------------------------------------------------------------------------------------------ encoding


@dataclass
class TagStats:
    """What the labelling policy did to the gold mentions (chapter 13).

    ``kept`` mentions were tagged; ``misaligned`` ones among them start or end inside a word (their tags decode
    to a wider span); ``overlapping`` ones overlapped a longer mention and were left out; ``lost`` ones covered
    no word at all (only characters the tokenizer drops).
    """

    mentions: int = 0
    kept: int = 0
    misaligned: int = 0
    overlapping: int = 0
    lost: int = 0
    windows: int = 0
    pieces: int = 0

    def add(self, other: TagStats) -> None:
        """Add ``other``'s counts to these (chapter 13)."""
        for name in ("mentions", "kept", "misaligned", "overlapping", "lost", "windows", "pieces"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def __str__(self) -> str:
        return (f"{self.mentions} mentions: {self.kept} tagged ({self.misaligned} not on word boundaries), "
                f"{self.overlapping} overlapping left out, {self.lost} on no word; "
                f"{self.pieces} word pieces in {self.windows} windows")


@dataclass
class Encoding:
    """One document as words and word pieces: offsets into ``doc.text``, model windows and (for training) tags.

    Piece ``g`` spans ``offsets[g]`` and belongs to word ``words[g]``, which spans ``word_spans[words[g]]``;
    ``first[g]`` says whether it is its word's first piece (the one that carries the word's tag). Window ``w``
    covers pieces ``spans[w] = (a, b)`` and is fed to the model as ``input_ids[w]``, whose content pieces sit
    at positions ``positions[w]`` (the others are ``[CLS]``/``[SEP]``). ``tags`` (one per word) is filled for
    training. Chapter 13.
    """

    doc_id: str
    text: str
    offsets: list[tuple[int, int]]
    words: list[int]
    word_spans: list[tuple[int, int]]
    spans: list[tuple[int, int]] = field(default_factory=list)
    input_ids: list[list[int]] = field(default_factory=list)
    positions: list[list[int]] = field(default_factory=list)
    tags: list[str] | None = None

    @property
    def first(self) -> list[bool]:
        """Return, per piece, whether it is the first piece of its word (chapter 13)."""
        return [g == 0 or self.words[g] != self.words[g - 1] for g in range(len(self.words))]


def _prepare_tokenizer(tokenizer: Any) -> Any:
    """Return a fast tokenizer set up as every course tokenizer (truncation and padding off), or raise."""
    from ...text.pretrained import whole_text_tokenizer

    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise NerBioredError(f"{type(tokenizer).__name__} is not a fast (Rust) tokenizer; chapter 13 needs one "
                             "for character offsets. Use a model whose folder has a tokenizer.json.")
    return whole_text_tokenizer(tokenizer)


def _word_tags(doc: BioDocument, word_spans: Sequence[tuple[int, int]]) -> tuple[list[str], TagStats]:
    """Return one BIO tag per word of ``doc`` under the module's labelling policy, and its counts."""
    stats = TagStats(mentions=len(doc.mentions))
    owner = np.full(len(doc.text) + 1, -1, dtype=np.int64)
    kept: list[EntityMention] = []
    for m in sorted(doc.mentions, key=lambda m: (-(m.end - m.start), m.start, m.type)):
        if (owner[m.start:m.end] >= 0).any():
            stats.overlapping += 1
            continue
        owner[m.start:m.end] = len(kept)
        kept.append(m)
    starts = {a for a, _ in word_spans}
    ends = {b for _, b in word_spans}
    tags, previous, covered = [], -1, set()
    for a, b in word_spans:
        inside = owner[a:b]
        inside = inside[inside >= 0]
        if inside.size == 0:
            tags.append("O")
            previous = -1
            continue
        k = int(inside[0])
        tags.append(("I-" if k == previous else "B-") + kept[k].type)
        previous = k
        covered.add(k)
    for k, m in enumerate(kept):
        if k not in covered:
            stats.lost += 1
            continue
        stats.kept += 1
        if m.start not in starts or m.end not in ends:
            stats.misaligned += 1
    return tags, stats


def _check_window_settings(tokenizer: Any, max_length: int, stride: int) -> int:
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    room = max_length - specials
    if room < 2:
        raise NerBioredError(f"max_length {max_length} leaves no room for text next to {specials} special tokens; "
                             "use 32 or more.")
    if not 0 <= stride < room:
        raise NerBioredError(f"stride {stride} must be at least 0 and below max_length - {specials} = {room} "
                             f"(it is the number of pieces neighbouring windows share); try {room // 4}.")
    return room


def encode_documents(tokenizer: Any, documents: Sequence[BioDocument], *, max_length: int, stride: int,
                     with_tags: bool = False) -> tuple[list[Encoding], TagStats]:
    """Return each document's word pieces, offsets and overlapping windows (and tags), with the policy's counts.

    Windows come from the tokenizer (``truncation=True, stride=stride, return_overflowing_tokens=True``): each
    holds at most ``max_length`` ids including the special tokens, and neighbours share ``stride`` pieces. Each
    window's place in the document is checked against one full tokenization, so offsets are never guessed.
    Chapter 13.
    """
    _prepare_tokenizer(tokenizer)
    _check_window_settings(tokenizer, max_length, stride)
    texts = [d.text for d in documents]
    stats = TagStats()
    if not texts:
        return [], stats
    full = tokenizer(texts, add_special_tokens=False, truncation=False, return_offsets_mapping=True)
    win = tokenizer(texts, truncation=True, max_length=max_length, stride=stride, return_overflowing_tokens=True,
                    return_offsets_mapping=True, return_special_tokens_mask=True)
    encodings = []
    for d, doc in enumerate(documents):
        offsets = [(int(a), int(b)) for a, b in full["offset_mapping"][d]]
        words, word_spans = _words(full.word_ids(d), offsets)
        enc = Encoding(doc.doc_id, doc.text, offsets, words, word_spans)
        if with_tags:
            enc.tags, doc_stats = _word_tags(doc, word_spans)
            stats.add(doc_stats)
        stats.pieces += len(offsets)
        encodings.append(enc)
    next_start = [0] * len(documents)
    for row, d in enumerate(win["overflow_to_sample_mapping"]):
        enc = encodings[d]
        special = win["special_tokens_mask"][row]
        positions = [i for i, s in enumerate(special) if not s]
        if not positions:
            continue
        pieces = [tuple(int(v) for v in win["offset_mapping"][row][i]) for i in positions]
        start = _locate(enc.offsets, pieces, next_start[d], enc.doc_id)
        enc.spans.append((start, start + len(pieces)))
        enc.input_ids.append([int(i) for i in win["input_ids"][row]])
        enc.positions.append(positions)
        next_start[d] = start + len(pieces) - stride
        stats.windows += 1
    for enc in encodings:
        covered = np.zeros(len(enc.offsets), dtype=bool)
        for a, b in enc.spans:
            covered[a:b] = True
        if not covered.all():  # pragma: no cover - the tokenizer's windows always cover the text
            raise NerBioredError(f"document {enc.doc_id}: the tokenizer's windows leave word pieces uncovered; "
                                 "use a larger max_length or stride.")
    return encodings, stats


def _words(word_ids: Sequence[int | None], offsets: Sequence[tuple[int, int]]
           ) -> tuple[list[int], list[tuple[int, int]]]:
    """Return each piece's word number (0, 1, ... in text order) and each word's character span."""
    words: list[int] = []
    spans: list[tuple[int, int]] = []
    previous: int | None = None
    for g, (wid, (a, b)) in enumerate(zip(word_ids, offsets, strict=True)):
        if g == 0 or wid is None or wid != previous:
            spans.append((a, b))
        else:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        words.append(len(spans) - 1)
        previous = wid
    return words, spans


def _locate(offsets: Sequence[tuple[int, int]], pieces: Sequence[tuple[int, ...]], guess: int, doc_id: str) -> int:
    """Return where a window's pieces start in the full tokenization (tried at ``guess`` first)."""
    n = len(pieces)
    candidates = [max(guess, 0)] + [g for g in range(len(offsets) - n + 1) if g != guess]
    for g in candidates:
        if offsets[g:g + n] == list(pieces):
            return g
    raise NerBioredError(f"document {doc_id}: a window of the tokenizer does not match the full tokenization; "
                         "this tokenizer is not supported for windowed NER (use a BERT-style WordPiece model).")


def decode_words(text: str, word_spans: Sequence[tuple[int, int]], tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Return character spans ``(start, end, type)`` of word tags: first word's start to last word's end.

    Spans are trimmed of outer whitespace (none with BERT's words), so ``text[start:end]`` is the mention.
    Chapter 13.
    """
    spans = []
    for a, b, etype in bio_to_spans(tags):
        start, end = word_spans[a][0], word_spans[b - 1][1]
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            spans.append((start, end, etype))
    return spans


def decode_windows(enc: Encoding, window_tags: Sequence[Sequence[str]]) -> list[tuple[int, int, str]]:
    """Return character spans ``(start, end, type)`` from per-window piece tags (one list per window of ``enc``).

    Each piece takes its tag from the window in which it lies farthest from an edge (ties: the earlier window),
    so every piece, and every character, is predicted exactly once; each word then takes its first piece's tag
    and :func:`decode_words` turns word tags into spans. Chapter 13.
    """
    if len(window_tags) != len(enc.spans):
        raise NerBioredError(f"document {enc.doc_id}: {len(window_tags)} tag lists for {len(enc.spans)} windows.")
    piece_tags = merge_windows(len(enc.offsets), [(a, b, tags) for (a, b), tags in
                                                  zip(enc.spans, window_tags, strict=True)])
    tags = ["O"] * len(enc.word_spans)
    for g, is_first in enumerate(enc.first):
        if is_first:
            tags[enc.words[g]] = piece_tags[g]
    return decode_words(enc.text, enc.word_spans, tags)


# ------------------------------------------------------------------------------------------------ entity ids


@dataclass
class IdDictionary:
    """Normalised surface + type -> the most frequent id list among training mentions (chapter 13).

    Unknown surfaces get the placeholder ``?type:surface`` (normalised), so two predicted mentions with the same
    surface and type share an id and relation extraction can pair them.
    """

    table: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def fit(cls, documents: Sequence[BioDocument]) -> IdDictionary:
        """Return the dictionary of the documents' mentions (ties: the first seen id list; chapter 13)."""
        counts: dict[tuple[str, str], Counter[tuple[str, ...]]] = defaultdict(Counter)
        for doc in documents:
            for m in doc.mentions:
                if m.ids:
                    counts[(normalise_surface(m.text), m.type)][m.ids] += 1
        return cls({key: c.most_common(1)[0][0] for key, c in counts.items()})

    def known(self, text: str, etype: str) -> bool:
        """Return True when ``(text, etype)`` was seen in training (chapter 13)."""
        return (normalise_surface(text), etype) in self.table

    def lookup(self, text: str, etype: str) -> tuple[str, ...]:
        """Return the ids of ``text`` as ``etype``: the training ids, or ``("?etype:surface",)`` (chapter 13)."""
        key = (normalise_surface(text), etype)
        return self.table.get(key) or (f"?{etype}:{key[0]}",)

    def __len__(self) -> int:
        return len(self.table)

    def to_json(self) -> list[list[Any]]:
        """Return the table as JSON-ready rows ``[surface, type, [ids]]`` (chapter 13)."""
        return [[s, t, list(ids)] for (s, t), ids in self.table.items()]

    @classmethod
    def from_json(cls, rows: Sequence[Sequence[Any]]) -> IdDictionary:
        """Return the dictionary of rows written by :meth:`to_json` (chapter 13)."""
        return cls({(str(s), str(t)): tuple(str(i) for i in ids) for s, t, ids in rows})


def _with_mentions(doc: BioDocument, spans: Sequence[tuple[int, int, str]], ids: IdDictionary | None,
                   fixed_ids: Sequence[tuple[str, ...] | None] | None = None) -> BioDocument:
    text = doc.text
    mentions = []
    for k, (a, b, etype) in enumerate(spans):
        surface = text[a:b]
        chosen = fixed_ids[k] if fixed_ids is not None and fixed_ids[k] else None
        if chosen is None:
            chosen = ids.lookup(surface, etype) if ids is not None else (f"?{etype}:{normalise_surface(surface)}",)
        mentions.append(EntityMention(a, b, surface, etype, tuple(chosen)))
    return dataclasses.replace(doc, mentions=tuple(mentions), relations=())


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


# ------------------------------------------------------------------------------------------------ baseline

_WORD = re.compile(r"\w+|[^\w\s]")
_END = ""  # trie key that ends a surface: tokens are never empty and gaps are keyed "~" (joined) or "_" (spaced)


def _dict_tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]


def _dict_key(tokens: Sequence[tuple[int, int, str]]) -> tuple[str, ...]:
    """Return the lookup key of a token run: tokens with the gaps between them (``~`` joined, ``_`` spaced)."""
    key = [tokens[0][2]]
    for prev, tok in zip(tokens, tokens[1:]):
        key += ["~" if tok[0] == prev[1] else "_", tok[2]]
    return tuple(key)


@dataclass
class DictionaryTagger:
    """The baseline: every training surface, with its most frequent type and ids, looked up in new text.

    Matching is case-insensitive and on word boundaries (a surface matches whole ``\\w+`` runs and punctuation
    marks, with the same joins: ``IL-6`` does not match inside ``IL-6R``, and any run of whitespace matches a
    space); among overlapping matches the longest wins, then the leftmost. Surfaces shorter than ``min_chars``
    are left out (single letters would match everywhere). Chapter 13.
    """

    entries: dict[tuple[str, ...], tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    min_chars: int = 2
    _trie: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._trie = {}
        for key, value in self.entries.items():
            node = self._trie
            for part in key:
                node = node.setdefault(part, {})
            node[_END] = value

    @classmethod
    def fit(cls, documents: Sequence[BioDocument], *, min_chars: int = 2) -> DictionaryTagger:
        """Return the tagger of the documents' mention surfaces (chapter 13)."""
        types: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        ids: dict[tuple[tuple[str, ...], str], Counter[tuple[str, ...]]] = defaultdict(Counter)
        for doc in documents:
            for m in doc.mentions:
                tokens = _dict_tokens(m.text)
                if not tokens or len(m.text.strip()) < min_chars:
                    continue
                key = _dict_key(tokens)
                types[key][m.type] += 1
                if m.ids:
                    ids[(key, m.type)][m.ids] += 1
        entries = {}
        for key, counter in types.items():
            etype = counter.most_common(1)[0][0]
            chosen = ids.get((key, etype))
            entries[key] = (etype, chosen.most_common(1)[0][0] if chosen else ())
        return cls(entries, min_chars)

    def find(self, text: str) -> list[tuple[int, int, str, tuple[str, ...]]]:
        """Return the non-overlapping matches ``(start, end, type, ids)`` in ``text``, in text order (chapter 13)."""
        tokens = _dict_tokens(text)
        candidates = []
        for i, first in enumerate(tokens):
            node = self._trie.get(first[2])
            j = i
            while node is not None:
                if _END in node:
                    candidates.append((first[0], tokens[j][1], i, j, node[_END]))
                if j + 1 >= len(tokens):
                    break
                gap = "~" if tokens[j + 1][0] == tokens[j][1] else "_"
                node = node.get(gap)
                node = node.get(tokens[j + 1][2]) if node is not None else None
                j += 1
        candidates.sort(key=lambda c: (-(c[1] - c[0]), c[0]))
        taken = np.zeros(len(tokens), dtype=bool)
        chosen = []
        for start, end, i, j, (etype, ids) in candidates:
            if taken[i:j + 1].any():
                continue
            taken[i:j + 1] = True
            chosen.append((start, end, etype, ids))
        return sorted(chosen)

    def predict(self, documents: Sequence[BioDocument], *, id_dictionary: IdDictionary | None = None
                ) -> list[BioDocument]:
        """Return ``documents`` with dictionary mentions instead of theirs and no relations (chapter 13)."""
        out = []
        for doc in documents:
            found = self.find(doc.text)
            out.append(_with_mentions(doc, [(a, b, t) for a, b, t, _ in found], id_dictionary,
                                      [ids for *_, ids in found]))
        return out


# ------------------------------------------------------------------------------------------------ scores


def to_scoring_mentions(documents: Sequence[BioDocument]) -> list[Mention]:
    """Return the documents' mentions as :class:`~course_utils.ie.scoring.Mention` (chapters 12-13's scorer)."""
    return [Mention(d.doc_id, m.type, ((m.start, m.end),)) for d in documents for m in d.mentions]


def _paired(gold: Sequence[BioDocument], predicted: Sequence[BioDocument]) -> None:
    texts = {d.doc_id: d.text for d in gold}
    extra = [d.doc_id for d in predicted if d.doc_id not in texts]
    if extra:
        raise NerBioredError(f"{len(extra)} predicted document(s) are not in the gold set (first: {extra[:5]}); "
                             "score predictions of the same abstracts.")
    changed = [d.doc_id for d in predicted if d.text != texts[d.doc_id]]
    if changed:
        raise NerBioredError(f"{len(changed)} predicted document(s) have another text than the gold one (first: "
                             f"{changed[:5]}); offsets can only be compared on the same title + abstract.")


def entity_scores(gold_documents: Sequence[BioDocument], predicted_documents: Sequence[BioDocument]) -> SpanScores:
    """Return exact span + type P/R/F1 per type, micro and macro (over gold types) (chapter 13).

    Documents are matched by id; a gold document with no prediction counts all its mentions as missed.
    """
    _paired(gold_documents, predicted_documents)
    return score_mentions(to_scoring_mentions(gold_documents), to_scoring_mentions(predicted_documents))


def unseen_entity_scores(train_documents: Sequence[BioDocument], gold_documents: Sequence[BioDocument],
                         predicted_documents: Sequence[BioDocument]) -> SpanScores:
    """Return :func:`entity_scores` restricted to mentions whose (surface, type) training never saw (chapter 13).

    Gold and predicted mentions are both filtered by their own normalised surface and type, so the score says
    how well a tagger finds names it has never seen (a dictionary finds none of them).
    """
    _paired(gold_documents, predicted_documents)
    seen = {(normalise_surface(m.text), m.type) for d in train_documents for m in d.mentions}

    def unseen(docs: Sequence[BioDocument]) -> list[Mention]:
        return [Mention(d.doc_id, m.type, ((m.start, m.end),)) for d in docs for m in d.mentions
                if (normalise_surface(m.text), m.type) not in seen]

    return score_mentions(unseen(gold_documents), unseen(predicted_documents))


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


# ------------------------------------------------------------------------------------------------ commands


def read_documents(path: str | os.PathLike[str], *, format: str = "pubtator",
                   entities: str | os.PathLike[str] | None = None) -> list[BioDocument]:
    """Return the documents of a PubTator file, or of LitCoin abstracts (+ entities) files (chapter 13).

    Reader problems raise :class:`~course_utils.ie.biored.BioREDFormatError` listing file and line of each.
    """
    file = Path(path)
    for named in (file, Path(entities) if entities else None):
        if named is not None and not named.is_file():
            raise NerBioredError(f"no such file: {named}. Give a PubTator file (or, with --format litcoin, the "
                                 "abstracts file and --entities).")
    if format == "pubtator":
        if entities:
            raise NerBioredError(f"--entities {entities} is for --format litcoin; a PubTator file holds its "
                                 "mentions itself")
        return list(read_pubtator(file).documents)
    if format == "litcoin":
        return list(read_litcoin(file, entities).documents)
    raise NerBioredError(f"unknown format {format!r}; use 'pubtator' or 'litcoin'.")


def _cmd_train(args: argparse.Namespace) -> int:
    from ...device import pick_device
    from ...distributed import barrier, init_distributed, shutdown

    check_output(args.out, folder=True)
    docs = read_documents(args.train, format=args.format, entities=args.entities)
    if not any(d.mentions for d in docs):
        raise NerBioredError(f"{args.train} has no entity mentions to learn from"
                             + (" (pass --entities with the LitCoin entities file)." if args.format == "litcoin"
                                else "."))
    ctx = init_distributed(pick_device(args.device))
    try:
        model = train_ner(docs, model=args.model, epochs=args.epochs, batch_size=args.batch_size,
                          max_length=args.max_length, stride=args.stride, lr=args.lr, head_lr=args.head_lr,
                          freeze_layers=args.freeze_layers, seed=args.seed, device=ctx.device,
                          show_progress=not args.quiet)
        if ctx.is_main:
            where = f" on {ctx.world_size} processes" if ctx.distributed else ""
            print(f"{len(docs)} training abstracts; labelling: {TagStats(**model.stats)}")
            for row in model.history:
                print("epoch {epoch:.0f}  loss {loss:.4f}  {seconds:.1f} s".format(**row))
            save_ner(model, args.out)
            print(f"trained{where} in {model.train_seconds:.1f} s; model written to {args.out}")
        barrier(ctx)
    finally:
        shutdown(ctx)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    check_output(args.out)
    docs = read_documents(args.input, format=args.format)  # a bad input is reported before a model is loaded
    model = load_ner(args.model_dir, device=args.device)
    predicted = predict_mentions(model, docs, batch_size=args.batch_size, show_progress=not args.quiet)
    write_pubtator(predicted, args.out)
    print(f"{sum(len(d.mentions) for d in predicted)} mentions in {args.out}; {model.last_throughput}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    gold = read_documents(args.gold, format=args.format, entities=args.entities)
    if not any(d.mentions for d in gold):
        raise NerBioredError(f"{args.gold} has no entity mentions: nothing to score against"
                             + (" (pass --entities with the LitCoin entities file)." if args.format == "litcoin"
                                else "; give the annotated gold file."))
    pred = read_documents(args.pred)
    missing = len({d.doc_id for d in gold} - {d.doc_id for d in pred})
    scores = entity_scores(gold, pred)
    if missing:
        print(f"warning: {missing} of {len(gold)} gold documents are not in {args.pred}; their mentions count as "
              "missed", file=sys.stderr)
    order = [t for t in ENTITY_TYPES if t in scores.per_type] + sorted(set(scores.per_type) - set(ENTITY_TYPES))
    print(scores_table(scores, order).to_string(float_format=lambda v: f"{v:.3f}"))
    print("errors:", error_classes(to_scoring_mentions(gold), to_scoring_mentions(pred)))
    print(f"micro-F1 {scores.micro_f1:.4f}  macro-F1 {scores.macro_f1:.4f}")
    return 0


def _add_format(p: argparse.ArgumentParser, entities: bool) -> None:
    p.add_argument("--format", choices=("pubtator", "litcoin"), default="pubtator",
                   help="input layout: a PubTator file (default) or LitCoin tab-separated files")
    if entities:
        p.add_argument("--entities", help="LitCoin entities file (with --format litcoin)")


def _train_arguments(tr: argparse.ArgumentParser) -> None:
    tr.add_argument("--train", required=True, help="PubTator file, or LitCoin abstracts file")
    _add_format(tr, True)
    tr.add_argument("--out", required=True, help="model folder to write")
    tr.add_argument("--model", default="minilm", help="encoder: minilm (installed), a model manifest such as "
                    "biomedbert (fetched with `python -m course_utils.data fetch biomedbert`) or a local folder")
    tr.add_argument("--epochs", type=positive_int, default=3)
    tr.add_argument("--batch-size", type=positive_int, default=16, help="windows per step, over all processes")
    tr.add_argument("--max-length", type=positive_int, default=256,
                    help="word pieces per window, special tokens included")
    tr.add_argument("--stride", type=non_negative_int, default=None, help="pieces shared by neighbouring windows")
    tr.add_argument("--lr", type=float, default=1e-4, help="encoder learning rate")
    tr.add_argument("--head-lr", type=float, default=1e-3, help="tag layer learning rate")
    tr.add_argument("--freeze-layers", type=non_negative_int, default=0,
                    help="keep the embeddings and this many lower layers as pretrained (faster on a CPU)")
    tr.add_argument("--seed", type=int, default=1234)
    tr.add_argument("--quiet", action="store_true", help="no progress bar")


def _predict_arguments(pr: argparse.ArgumentParser) -> None:
    pr.add_argument("--model-dir", required=True, help="folder written by the train command")
    pr.add_argument("--input", required=True, help="PubTator file, or LitCoin abstracts file")
    _add_format(pr, False)
    pr.add_argument("--out", required=True, help="PubTator file to write")
    pr.add_argument("--batch-size", type=positive_int, default=32)
    pr.add_argument("--quiet", action="store_true")


def _score_arguments(sc: argparse.ArgumentParser) -> None:
    sc.add_argument("--gold", required=True, help="gold PubTator file, or LitCoin abstracts file")
    _add_format(sc, True)
    sc.add_argument("--pred", required=True, help="predicted PubTator file (from the predict command)")


VERBS = (
    Verb("train", "train a tagger on annotated abstracts and save a model folder", _cmd_train, _train_arguments,
         epilog="Several GPUs: torchrun --standalone --nproc_per_node N -m course_utils.ie.relations.ner train ... "
                "(--batch-size is the global batch, shared among the N processes; rank 0 saves).",
         threads=True, device=True),
    Verb("predict", "tag abstracts and write a PubTator file of predicted mentions", _cmd_predict,
         _predict_arguments, device=True),
    Verb("score", "exact span + type P/R/F1 of a predicted PubTator file", _cmd_score, _score_arguments),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a chapter-13 NER command (``train``, ``predict``, ``score``); return the exit status (2 on bad input)."""
    return run_command("python -m course_utils.ie.relations.ner",
                       "Chapter 13: BioRED entity tagging (word-piece BIO tags).", VERBS, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
