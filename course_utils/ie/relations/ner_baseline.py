"""BioRED NER's baseline and scores: the longest-match dictionary of training surfaces, and entity scores
(overall and on mentions unseen in training) by the shared span scorer (chapter 13).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..biored import (
    BioDocument,
)
from ..scoring import Mention, SpanScores, score_mentions
from .ner_encoding import IdDictionary, NerBioredError, _with_mentions, normalise_surface

# ------------------------------------------------------------------------------------------------ baseline

__all__ = ["DictionaryTagger", "to_scoring_mentions", "entity_scores", "unseen_entity_scores"]

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
