"""BioRED relation scoring: labelled candidate pairs, relation scores, BioRED's four settings, the type-pair rule
(chapter 13).

Relations are scored over *all candidate pairs* of entity ids in a document
(:func:`~course_utils.ie.biored.reader.candidate_pairs`), the pairs with no relation included: the seed scored only
pairs already known to be related, so its accuracy could not see a model that invents relations
(:func:`known_pairs_accuracy` against :func:`relation_scores`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from course_utils.ie.biored.reader import NO_RELATION, BioDocument, Relation, candidate_pairs
from course_utils.ie.scoring import TypeScore

__all__ = [
    "PairExample",
    "labelled_pairs",
    "RelationScores",
    "relation_scores",
    "biored_metrics",
    "known_pairs_accuracy",
    "TypePairRule",
]


@dataclass(frozen=True)
class PairExample:
    """A candidate pair of a document: sorted ids, their types, gold relation (``NO_RELATION``) and novelty."""

    doc_id: str
    id1: str
    id2: str
    type1: str
    type2: str
    relation: str = NO_RELATION
    novel: bool | None = None

    @property
    def type_pair(self) -> tuple[str, str]:
        """Return the two entity types sorted (chapter 13)."""
        return tuple(sorted((self.type1, self.type2)))  # type: ignore[return-value]


def labelled_pairs(doc: BioDocument) -> list[PairExample]:
    """Return every candidate pair with its gold relation type, ``NO_RELATION`` when none (chapter 13)."""
    types = doc.entity_types()
    gold = {r.pair: r for r in doc.relations}
    out = []
    for a, b in candidate_pairs(doc):
        r = gold.get((a, b))
        out.append(PairExample(doc.doc_id, a, b, types[a], types[b], r.type if r else NO_RELATION,
                               r.novel if r else None))
    return out


@dataclass(frozen=True)
class RelationScores:
    """Per-relation-type counts and scores, micro (pooled) and macro (mean F1 over the gold types present)."""

    per_type: dict[str, TypeScore]
    micro: TypeScore

    @property
    def macro_f1(self) -> float:
        """Return the mean F1 over the relation types present in the gold standard (chapter 13)."""
        present = [s for s in self.per_type.values() if s.support > 0]
        return sum(s.f1 for s in present) / len(present) if present else 0.0

    @property
    def micro_f1(self) -> float:
        """Return the F1 of the pooled counts (chapter 13)."""
        return self.micro.f1


RelationKey = tuple[str, str, str, str]  # doc_id, id1, id2 (sorted), type


def _keys(items: Iterable[PairExample | tuple[str, Relation]]) -> set[tuple[str, str, str, str, bool | None]]:
    keys = set()
    for item in items:
        if isinstance(item, PairExample):
            if item.relation == NO_RELATION:
                continue
            a, b = sorted((item.id1, item.id2))
            keys.add((item.doc_id, a, b, item.relation, item.novel))
        else:
            doc_id, r = item
            a, b = r.pair
            keys.add((doc_id, a, b, r.type, r.novel))
    return keys


def _gather(docs_or_pairs: Iterable[BioDocument] | Iterable[PairExample]) -> set[tuple[str, str, str, str, bool | None]]:
    items: list = []
    for x in docs_or_pairs:
        if isinstance(x, BioDocument):
            items.extend((x.doc_id, r) for r in x.relations)
        else:
            items.append(x)
    return _keys(items)


def relation_scores(gold: Iterable[BioDocument] | Iterable[PairExample],
                    predicted: Iterable[BioDocument] | Iterable[PairExample]) -> RelationScores:
    """Return P/R/F1 per relation type, micro and macro; a relation is right when document, pair and type match.

    Gold and predictions are documents (their relations) or pair examples (``NO_RELATION`` pairs ignored), so
    the no-relation pairs count through the false positives a model predicts on them (chapter 13).
    """
    g = {k[:4] for k in _gather(gold)}
    p = {k[:4] for k in _gather(predicted)}
    types = sorted({k[3] for k in g} | {k[3] for k in p})
    per_type = {}
    for t in types:
        gt = {k for k in g if k[3] == t}
        pt = {k for k in p if k[3] == t}
        per_type[t] = TypeScore(len(gt & pt), len(pt - gt), len(gt - pt))
    micro = TypeScore(len(g & p), len(p - g), len(g - p))
    return RelationScores(per_type, micro)


def biored_metrics(gold: Iterable[BioDocument] | Iterable[PairExample],
                   predicted: Iterable[BioDocument] | Iterable[PairExample]) -> dict[str, TypeScore]:
    """Return the four relation scores of BioCreative VIII BioRED: entity pair; pair + type; pair + novelty;
    pair + type + novelty (chapter 13).

    Each is a micro P/R/F1 over (document, unordered id pair[, type][, novelty]) tuples. The BioRED paper
    reports three of them (no ``pair_novelty``); BioCreative VIII's track added pair + novelty, so a student can
    set the course's scores beside either table.
    """
    g, p = _gather(gold), _gather(predicted)
    out = {}
    for name, fields in (("entity_pair", (0, 1, 2)), ("pair_type", (0, 1, 2, 3)), ("pair_novelty", (0, 1, 2, 4)),
                         ("pair_type_novelty", (0, 1, 2, 3, 4))):
        gs, ps = {tuple(k[i] for i in fields) for k in g}, {tuple(k[i] for i in fields) for k in p}
        out[name] = TypeScore(len(gs & ps), len(ps - gs), len(gs - ps))
    return out


def known_pairs_accuracy(gold_pairs: Sequence[PairExample], predicted: dict[tuple[str, str, str], str]) -> float:
    """Return the seed's metric: accuracy of relation types on the gold-related pairs only (chapter 13).

    ``predicted`` maps ``(doc_id, id1, id2)`` (sorted ids) to a relation type; no-relation gold pairs are left out,
    exactly as the seed did, so a model is never charged for the relations it invents. The seed's classifiers had
    no *None* class: for a model that has one, pass its predictions with the argmax restricted to the relation
    types (``predict_relations(..., related_only=True)``), or the figure mostly counts how often it abstains.
    """
    known = [p for p in gold_pairs if p.relation != NO_RELATION]
    if not known:
        return 0.0
    return sum(predicted.get((p.doc_id, p.id1, p.id2)) == p.relation for p in known) / len(known)


class TypePairRule:
    """The baseline: predict the most frequent relation (and novelty) of each entity-type pair (chapter 13).

    ``include_none=True`` counts the no-relation pairs too (the honest rule over all candidate pairs, which for
    most type pairs predicts no relation); ``include_none=False`` is the seed's setting, fitted on related pairs.
    """

    def __init__(self, include_none: bool = True) -> None:
        self.include_none = include_none
        self.table: dict[tuple[str, str], str] = {}
        self.novelty: dict[tuple[str, str, str], bool] = {}

    def fit(self, pairs: Iterable[PairExample]) -> TypePairRule:
        """Return self, fitted on labelled pairs (chapter 13)."""
        counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        novel: dict[tuple[str, str, str], Counter[bool]] = defaultdict(Counter)
        for p in pairs:
            if p.relation == NO_RELATION and not self.include_none:
                continue
            counts[p.type_pair][p.relation] += 1
            if p.relation != NO_RELATION and p.novel is not None:
                novel[(*p.type_pair, p.relation)][p.novel] += 1
        self.table = {k: c.most_common(1)[0][0] for k, c in counts.items()}
        self.novelty = {k: c.most_common(1)[0][0] for k, c in novel.items()}
        return self

    def predict(self, pairs: Iterable[PairExample]) -> list[PairExample]:
        """Return the pairs relabelled by the rule (``NO_RELATION`` for an unseen type pair) (chapter 13)."""
        out = []
        for p in pairs:
            rel = self.table.get(p.type_pair, NO_RELATION)
            nov = self.novelty.get((*p.type_pair, rel)) if rel != NO_RELATION else None
            out.append(PairExample(p.doc_id, p.id1, p.id2, p.type1, p.type2, rel, nov))
        return out
