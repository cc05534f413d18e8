"""What chapter 13's relation classifiers read: each document once, a typed marker token before every mention
(word tokens for the models trained from scratch, WordPiece with the markers as special tokens for a pretrained
encoder), and overlapping windows over documents longer than the model's positions (chapter 13).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from course_utils.errors import CourseError
from course_utils.ie.biored import (
    BioDocument,
    PairExample,
    labelled_pairs,
)

__all__ = ["ENCODERS", "KINDS", "RelationModelError", "EncodedDocument", "marker_token", "window_starts"]

ENCODERS = ("lstm", "rnn", "transformer")
KINDS = (*ENCODERS, "pretrained")
_TOKEN = re.compile(r"\w[\w\-]*|[^\w\s]")
_GENERIC_MARKER = "<Entity>"


class RelationModelError(CourseError, ValueError):
    """A relation model that cannot be built, trained or loaded as asked (chapter 13)."""


@dataclass
class EncodedDocument:
    """A document as marker-augmented tokens: tokens (or WordPiece ids), entity ids, marker positions per entity,
    pairs (chapter 13)."""

    doc: BioDocument
    tokens: list[str]
    entity_ids: list[str]
    positions: list[list[int]]
    pairs: list[PairExample]
    token_ids: list[int] = field(default_factory=list)


def marker_token(entity_type: str) -> str:
    """Return the typed marker token put before a mention of ``entity_type``, e.g. ``<ChemicalEntity>`` (chapter 13)."""
    return f"<{entity_type}>"


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


def _marked_text(doc: BioDocument, markers: set[str]) -> tuple[str, list[tuple[str, ...]], list[str]]:
    """Return the text with `` <Type> `` before every mention, the ids of each inserted marker in order, and the
    markers inserted; marker strings already in the text are defused so that every marker token is one of ours."""
    text = doc.text
    order = sorted(doc.mentions, key=lambda m: (m.start, m.end))
    pieces: list[str] = []
    ids: list[tuple[str, ...]] = []
    inserted: list[str] = []
    cursor = 0

    def clean(segment: str) -> str:
        for marker in markers:
            segment = segment.replace(marker, marker[1:-1])
        return segment

    for m in order:
        pieces.append(clean(text[cursor:m.start]))
        marker = marker_token(m.type) if marker_token(m.type) in markers else _GENERIC_MARKER
        pieces.append(f" {marker} ")
        ids.append(m.ids)
        inserted.append(marker)
        cursor = m.start
    pieces.append(clean(text[cursor:]))
    return "".join(pieces), ids, inserted


def _encode_pretrained(docs: Sequence[BioDocument], tokenizer: Any, markers: Sequence[str]) -> list[EncodedDocument]:
    """Return the documents as WordPiece ids (no [CLS]/[SEP]) with the position of every marker per entity id."""
    marker_set = set(markers)
    marker_ids = set(tokenizer.convert_tokens_to_ids(list(markers)))
    marked = [_marked_text(d, marker_set) for d in docs]
    batch = tokenizer([m[0] for m in marked], add_special_tokens=False)["input_ids"] if marked else []
    out = []
    for doc, (_, mention_ids, inserted), token_ids in zip(docs, marked, batch, strict=True):
        found = [i for i, t in enumerate(token_ids) if t in marker_ids]
        if len(found) != len(inserted):
            raise RelationModelError(f"document {doc.doc_id}: {len(inserted)} markers inserted but {len(found)} "
                                     "found after tokenisation; the tokenizer does not keep the added marker tokens")
        positions: dict[str, list[int]] = {}
        for pos, eids in zip(found, mention_ids, strict=True):
            for eid in eids:
                positions.setdefault(eid, []).append(pos)
        ids = sorted(positions)
        out.append(EncodedDocument(doc, [], ids, [positions[i] for i in ids], labelled_pairs(doc), list(token_ids)))
    return out


def window_starts(n_tokens: int, width: int, stride: int) -> list[int]:
    """Return the start of each window of ``width`` tokens covering ``n_tokens``, consecutive windows overlapping
    by ``stride`` tokens; the last window ends at the last token (chapter 13)."""
    if width <= 0 or not 0 <= stride < width:
        raise RelationModelError(f"windows of {width} tokens need 0 <= stride < width (stride {stride})")
    if n_tokens <= width:
        return [0]
    step = width - stride
    starts = list(range(0, n_tokens - width, step))
    starts.append(n_tokens - width)
    return starts


def _best_window(position: int, starts: Sequence[int], width: int) -> int:
    """Return the index of the window in which ``position`` has the most context on its shorter side."""
    best, best_margin = 0, -1
    for w, s in enumerate(starts):
        if s <= position < s + width:
            margin = min(position - s, s + width - 1 - position)
            if margin > best_margin:
                best, best_margin = w, margin
    return best
