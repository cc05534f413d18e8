"""Hard line breaks removed with an offset map, and spans mapped both ways (chapter 12).

The Ruijin texts are wrapped at a fixed width with ``\\n``; an entity that crosses a wrap is annotated as two
fragments around the newline. Character BIO cannot hold two fragments, so those entities would be lost. We
delete the line breaks, keep for every character of the cleaned text its offset in the original
(:class:`OffsetMap`), encode on the cleaned text, and map predicted spans back: a span that covers a deleted
newline becomes two fragments again, exactly as the annotators wrote it. A gap made of anything else than
deleted characters stays a true discontinuity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["OffsetMap", "remove_line_breaks", "to_clean_spans", "to_original_spans"]

Spans = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class OffsetMap:
    """Offsets between an original text and its cleaned copy (chapter 12).

    ``clean_to_original[i]`` is the original offset of cleaned character ``i``; ``original_to_clean[j]`` is
    the cleaned offset of original character ``j`` or, for a deleted character, of the next kept one
    (length ``len(original) + 1`` so that end offsets map too).
    """

    clean_to_original: np.ndarray
    original_to_clean: np.ndarray

    @property
    def removed(self) -> int:
        """Return how many characters were deleted (chapter 12)."""
        return len(self.original_to_clean) - 1 - len(self.clean_to_original)


def remove_line_breaks(text: str, chars: str = "\r\n") -> tuple[str, OffsetMap]:
    """Return ``text`` without the characters in ``chars`` and the :class:`OffsetMap` (chapter 12)."""
    keep = np.fromiter((c not in chars for c in text), dtype=bool, count=len(text))
    clean_to_original = np.flatnonzero(keep).astype(np.int64)
    original_to_clean = np.concatenate([[0], np.cumsum(keep)]).astype(np.int64)  # kept chars before j
    clean = "".join(text[i] for i in clean_to_original)
    return clean, OffsetMap(clean_to_original, original_to_clean)


def to_clean_spans(spans: Spans, offsets: OffsetMap) -> Spans:
    """Return original fragments as cleaned-text fragments, merging those only deleted characters separated.

    A fragment made only of deleted characters disappears.
    """
    out: list[list[int]] = []
    for a, b in spans:
        ca, cb = int(offsets.original_to_clean[a]), int(offsets.original_to_clean[b])
        if ca >= cb:
            continue
        if out and out[-1][1] == ca:
            out[-1][1] = cb
        else:
            out.append([ca, cb])
    return tuple((a, b) for a, b in out)


def to_original_spans(spans: Sequence[tuple[int, int]], offsets: OffsetMap) -> Spans:
    """Return cleaned-text fragments as original fragments, split wherever deleted characters sat (chapter 12)."""
    out: list[tuple[int, int]] = []
    c2o = offsets.clean_to_original
    for a, b in spans:
        if a >= b:
            continue
        pos = c2o[a:b]
        breaks = np.flatnonzero(np.diff(pos) != 1) + 1
        for piece in np.split(pos, breaks):
            start, end = int(piece[0]), int(piece[-1]) + 1
            if out and out[-1][1] == start:
                out[-1] = (out[-1][0], end)
            else:
                out.append((start, end))
    return tuple(out)
