"""BioRED NER's labelling policy in code: words and word pieces, BIO tags on the first piece of each word,
overlapping windows over long abstracts, decoding back to character spans, and entity ids for predicted
mentions (chapter 13). The policy itself is stated once, in :mod:`course_utils.ie.relations.ner`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import CourseError
from ..bio import bio_to_spans, merge_windows, tag_names
from ..biored import (
    ENTITY_TYPES,
    BioDocument,
    EntityMention,
)

__all__ = ["NerBioredError", "TAGS", "normalise_surface", "TagStats", "Encoding", "encode_documents", "decode_words",
           "decode_windows", "IdDictionary"]

TAGS: tuple[str, ...] = tag_names(ENTITY_TYPES)
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
