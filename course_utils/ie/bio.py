"""Character BIO encoding of brat documents, chunking with a maximum length and stride, decoding (chapter 12).

Policy, stated once and counted every time:

* Hard line breaks are deleted first (:mod:`course_utils.ie.linebreaks`), so an entity wrapped over a line is
  one contiguous span again.
* Each character gets one tag, so overlapping entities cannot all be kept: we keep the **longest** entity
  (earliest first on ties) and drop every entity that overlaps a kept one, counting it as ``nested`` (inside
  a kept entity) or ``crossing`` (partly outside).
* An entity still in several fragments after the line breaks are gone is a true discontinuity that BIO cannot
  hold: it is dropped from training and counted as ``discontinuous``.
* Documents are cut into chunks at sentence punctuation, never inside a kept entity; a sentence longer than
  ``max_length`` is cut into windows of ``max_length`` overlapping by ``stride`` characters, and each
  character takes its prediction from the window where it lies farthest from an edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .brat import BratDocument, Entity
from .linebreaks import OffsetMap, remove_line_breaks, to_clean_spans, to_original_spans

__all__ = [
    "RUIJIN_TYPES",
    "SENTENCE_END",
    "tag_names",
    "EncodeStats",
    "EncodedDocument",
    "Chunk",
    "encode_document",
    "spans_to_bio",
    "bio_to_spans",
    "chunk_document",
    "merge_windows",
    "decode_document",
]

RUIJIN_TYPES: tuple[str, ...] = (
    "Test", "Disease", "Anatomy", "Drug", "Test_Value", "Symptom", "Reason", "Level", "Amount",
    "Treatment", "Duration", "Method", "SideEff", "Operation", "Frequency",
)
SENTENCE_END = frozenset("。！？；!?;")


def tag_names(types: Sequence[str] = RUIJIN_TYPES) -> tuple[str, ...]:
    """Return the BIO tag set ``O, B-T1, I-T1, ...`` (31 tags for the 15 Ruijin types; chapter 12)."""
    return ("O", *[f"{p}-{t}" for t in types for p in ("B", "I")])


@dataclass
class EncodeStats:
    """What the BIO policy did: entities kept and dropped (nested, crossing, discontinuous) (chapter 12)."""

    kept: int = 0
    nested: int = 0
    crossing: int = 0
    discontinuous: int = 0
    joined_by_line_break_removal: int = 0

    def add(self, other: EncodeStats) -> EncodeStats:
        """Return self after adding the counts of ``other`` (chapter 12)."""
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    @property
    def total(self) -> int:
        """Return the number of entities seen (chapter 12)."""
        return self.kept + self.nested + self.crossing + self.discontinuous


@dataclass
class EncodedDocument:
    """A document ready for tagging: cleaned text, offset map, one tag per character, kept spans, stats."""

    doc_id: str
    text: str
    offsets: OffsetMap
    tags: list[str]
    spans: list[tuple[int, int, str]]  # kept entities in cleaned offsets
    stats: EncodeStats = field(default_factory=EncodeStats)


@dataclass(frozen=True)
class Chunk:
    """A piece of a cleaned document: ``text[start:end]`` (chapter 12)."""

    doc_id: str
    start: int
    end: int


def spans_to_bio(n: int, spans: Sequence[tuple[int, int, str]]) -> list[str]:
    """Return ``n`` BIO tags for non-overlapping ``(start, end, type)`` spans (chapter 12)."""
    tags = ["O"] * n
    for start, end, etype in spans:
        tags[start] = f"B-{etype}"
        for i in range(start + 1, end):
            tags[i] = f"I-{etype}"
    return tags


def bio_to_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Return ``(start, end, type)`` spans of a BIO sequence; a stray ``I-X`` opens an entity (chapter 12)."""
    spans: list[tuple[int, int, str]] = []
    start, etype = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, kind = tag.partition("-")
        continues = prefix == "I" and kind == etype and start >= 0
        if start >= 0 and not continues:
            spans.append((start, i, etype))
            start, etype = -1, ""
        if prefix in ("B", "I") and not continues:
            start, etype = i, kind
    return spans


def encode_document(doc: BratDocument, *, remove_breaks: bool = True,
                    types: Sequence[str] | None = None) -> EncodedDocument:
    """Return the document's cleaned text, offset map and character BIO tags under the stated policy.

    With ``remove_breaks=False`` the text is kept as is (for measuring what line-break removal saves).
    Entities of types outside ``types`` (when given) are ignored. Chapter 12.
    """
    if remove_breaks:
        text, offsets = remove_line_breaks(doc.text)
    else:
        text, offsets = remove_line_breaks(doc.text, chars="")
    stats = EncodeStats()
    candidates: list[tuple[int, int, str]] = []
    for ent in doc.entities:
        if types is not None and ent.type not in types:
            continue
        clean = to_clean_spans(ent.spans, offsets)
        if len(clean) != 1:
            stats.discontinuous += 1
            continue
        if ent.discontinuous:
            stats.joined_by_line_break_removal += 1
        candidates.append((clean[0][0], clean[0][1], ent.type))
    candidates.sort(key=lambda s: (-(s[1] - s[0]), s[0], s[2]))
    owner = np.full(len(text), -1, dtype=np.int64)
    kept: list[tuple[int, int, str]] = []
    for start, end, etype in candidates:
        taken = owner[start:end]
        if (taken >= 0).any():
            outer = kept[int(taken[taken >= 0][0])]
            if outer[0] <= start and end <= outer[1]:
                stats.nested += 1
            else:
                stats.crossing += 1
            continue
        owner[start:end] = len(kept)
        kept.append((start, end, etype))
    kept.sort()
    stats.kept = len(kept)
    return EncodedDocument(doc.doc_id, text, offsets, spans_to_bio(len(text), kept), kept, stats)


def chunk_document(text: str, *, max_length: int, stride: int = 16,
                   protected: Sequence[tuple[int, int, str]] = (), doc_id: str = "") -> list[Chunk]:
    """Return chunks covering ``text``: sentences packed up to ``max_length``, long ones windowed (chapter 12).

    A cut is made only after sentence punctuation and never inside a ``protected`` span; a sentence longer
    than ``max_length`` becomes windows of ``max_length`` characters overlapping by ``stride``.
    """
    if max_length < 2 or not 0 <= stride < max_length:
        raise ValueError(f"need max_length >= 2 and 0 <= stride < max_length, got {max_length}, {stride}")
    inside = np.zeros(len(text) + 1, dtype=bool)
    for start, end, _ in protected:
        inside[start + 1:end] = True
    cuts = [0] + [i + 1 for i, c in enumerate(text) if c in SENTENCE_END and not inside[i + 1]]
    if cuts[-1] != len(text):
        cuts.append(len(text))
    sentences = [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]
    chunks: list[Chunk] = []
    cur_start, cur_end = -1, -1
    for a, b in sentences:
        if cur_start >= 0 and b - cur_start <= max_length:
            cur_end = b
            continue
        if cur_start >= 0:
            chunks.append(Chunk(doc_id, cur_start, cur_end))
            cur_start = -1
        if b - a <= max_length:
            cur_start, cur_end = a, b
            continue
        step = max_length - stride
        pos = a
        while True:
            end = min(pos + max_length, b)
            chunks.append(Chunk(doc_id, pos, end))
            if end == b:
                break
            pos += step
    if cur_start >= 0:
        chunks.append(Chunk(doc_id, cur_start, cur_end))
    return chunks


def merge_windows(n: int, windows: Sequence[tuple[int, int, Sequence[str]]]) -> list[str]:
    """Return ``n`` tags from overlapping ``(start, end, tags)`` windows: farthest-from-edge wins (chapter 12)."""
    best = np.full(n, -1.0)
    out = ["O"] * n
    for start, end, tags in windows:
        for k in range(end - start):
            depth = min(k, end - start - 1 - k)
            if depth > best[start + k]:
                best[start + k] = depth
                out[start + k] = tags[k]
    return out


def decode_document(tags: Sequence[str], offsets: OffsetMap, *, doc_id: str = "") -> list[Entity]:
    """Return entities in original offsets from cleaned-text BIO tags (fragments restored; chapter 12)."""
    entities = []
    for k, (start, end, etype) in enumerate(bio_to_spans(tags), start=1):
        spans = to_original_spans([(start, end)], offsets)
        entities.append(Entity(f"T{k}", etype, spans))
    return entities
