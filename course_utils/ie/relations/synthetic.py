"""Synthetic BioRED-like abstracts: planted entities, ids, trigger-word relations and novelty cues (chapter 13).

Every relation is written as one sentence ``<cue> <e1> <trigger> <e2> .`` whose trigger names the relation type
(``binds`` -> Bind, ``increases`` -> Positive_Correlation, ...) and whose cue names the novelty (``here we show
that`` -> novel, ``previous studies reported that`` -> known). Distractor sentences name two entities with no
relation, so most candidate pairs are no-relation pairs, as in BioRED, and one entity-type pair carries several
relation types: the most-frequent-relation-per-type-pair rule cannot do well, a model that reads does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_utils.ie.biored import BioDocument, EntityMention, Relation

__all__ = ["TRIGGERS", "NOVELTY_CUES", "SyntheticSplit", "synthetic_biored"]

TRIGGERS: dict[str, str] = {
    "Association": "is associated with",
    "Positive_Correlation": "increases",
    "Negative_Correlation": "reduces",
    "Bind": "binds",
    "Cotreatment": "combined with",
}
NOVELTY_CUES = {True: "here we show that", False: "previous studies reported that"}
_ALLOWED = {  # (type1, type2) -> relation types planted for that type pair
    ("ChemicalEntity", "DiseaseOrPhenotypicFeature"): ("Positive_Correlation", "Negative_Correlation", "Association"),
    ("GeneOrGeneProduct", "DiseaseOrPhenotypicFeature"): ("Association", "Positive_Correlation", "Negative_Correlation"),
    ("ChemicalEntity", "GeneOrGeneProduct"): ("Bind", "Positive_Correlation", "Negative_Correlation"),
    ("SequenceVariant", "DiseaseOrPhenotypicFeature"): ("Association", "Positive_Correlation"),
    ("ChemicalEntity", "ChemicalEntity"): ("Cotreatment",),
}
_FILLERS = ("the cohort included {n} patients .", "samples were collected at {n} centres .",
            "follow-up lasted {n} months .")
_DISTRACTORS = ("{a} and {b} were measured in {n} patients .", "levels of {a} were recorded alongside {b} .")


@dataclass(frozen=True)
class SyntheticSplit:
    """Synthetic train and test documents with the lexicon used: id -> (type, surface forms) (chapter 13)."""

    train: tuple[BioDocument, ...]
    test: tuple[BioDocument, ...]
    lexicon: dict[str, tuple[str, tuple[str, ...]]]


def _lexicon(rng: np.random.Generator, per_type: int) -> dict[str, tuple[str, tuple[str, ...]]]:
    letters = "abcdefghiklmnoprstuvz"

    def stem() -> str:
        return "".join(rng.choice(list(letters), size=int(rng.integers(3, 6))))

    lex: dict[str, tuple[str, tuple[str, ...]]] = {}
    for i in range(per_type):
        s = stem()
        lex[str(1000 + i)] = ("GeneOrGeneProduct", (s.upper() + str(i % 9 + 1), f"{s}-{i}"))
        lex[f"D{100000 + i:06d}"] = ("DiseaseOrPhenotypicFeature", (f"{stem()}osis", f"{stem()} syndrome"))
        lex[f"C{5000 + i}"] = ("ChemicalEntity", (f"{stem()}mab", f"{stem()}ol"))
        lex[f"p|SUB|{s[0].upper()}|{10 + i}|G"] = ("SequenceVariant", (f"{s[0].upper()}{10 + i}G",))
    return lex


def _document(rng: np.random.Generator, doc_id: str, lex: dict[str, tuple[str, tuple[str, ...]]],
              by_type: dict[str, list[str]]) -> BioDocument:
    sentences: list[list[tuple[str, str | None, str | None]]] = []  # tokens: (surface, id or None, type)
    relations: list[Relation] = []
    used: set[frozenset[str]] = set()
    pairs = list(_ALLOWED)
    for _ in range(int(rng.integers(2, 4))):
        t1, t2 = pairs[int(rng.integers(len(pairs)))]
        a = by_type[t1][int(rng.integers(len(by_type[t1])))]
        b = by_type[t2][int(rng.integers(len(by_type[t2])))]
        if a == b or frozenset((a, b)) in used:
            continue
        used.add(frozenset((a, b)))
        rel = _ALLOWED[(t1, t2)][int(rng.integers(len(_ALLOWED[(t1, t2)])))]
        novel = bool(rng.random() < 0.6)
        sent = [(w, None, None) for w in NOVELTY_CUES[novel].split()]
        sent.append((lex[a][1][int(rng.integers(len(lex[a][1])))], a, t1))
        sent += [(w, None, None) for w in TRIGGERS[rel].split()]
        sent.append((lex[b][1][int(rng.integers(len(lex[b][1])))], b, t2))
        sent.append((".", None, None))
        sentences.append(sent)
        relations.append(Relation(rel, a, b, novel))
    mentioned = [i for r in relations for i in (r.id1, r.id2)]
    for _ in range(int(rng.integers(1, 3))):  # distractors: a mentioned entity beside a new one, no relation
        a = mentioned[int(rng.integers(len(mentioned)))]
        t = list(by_type)[int(rng.integers(len(by_type)))]
        b = by_type[t][int(rng.integers(len(by_type[t])))]
        if b in mentioned:
            continue
        words = _DISTRACTORS[int(rng.integers(len(_DISTRACTORS)))].format(a="\0a", b="\0b", n=int(rng.integers(10, 500)))
        sent = []
        for w in words.split():
            if w in ("\0a", "\0b"):
                eid = a if w == "\0a" else b
                sent.append((lex[eid][1][0], eid, lex[eid][0]))
            else:
                sent.append((w, None, None))
        sentences.insert(int(rng.integers(len(sentences) + 1)), sent)
    filler = _FILLERS[int(rng.integers(len(_FILLERS)))].format(n=int(rng.integers(10, 500)))
    sentences.insert(1, [(w, None, None) for w in filler.split()])
    title_tokens = [(w, None, None) for w in "a study of".split()] + [
        (lex[relations[0].id1][1][0], relations[0].id1, lex[relations[0].id1][0]), ("in", None, None),
        (lex[relations[0].id2][1][0], relations[0].id2, lex[relations[0].id2][0])]
    title, mentions = "", []
    for surface, eid, etype in title_tokens:
        title += ("" if not title else " ")
        if eid is not None:
            mentions.append(EntityMention(len(title), len(title) + len(surface), surface, etype or "", (eid,)))
        title += surface
    text = title + " "
    abstract_start = len(text)
    for sent in sentences:
        for surface, eid, etype in sent:
            if len(text) > abstract_start:
                text += " "
            if eid is not None:
                mentions.append(EntityMention(len(text), len(text) + len(surface), surface, etype or "", (eid,)))
            text += surface
    return BioDocument(doc_id, title, text[abstract_start:], tuple(mentions), tuple(relations))


def synthetic_biored(n_train: int = 160, n_test: int = 60, *, seed: int = 1234, per_type: int = 40) -> SyntheticSplit:
    """Return synthetic train/test abstracts with planted entities, ids, relations and novelty (chapter 13)."""
    rng = np.random.default_rng(seed)
    lex = _lexicon(rng, per_type)
    by_type: dict[str, list[str]] = {}
    for eid, (etype, _) in lex.items():
        by_type.setdefault(etype, []).append(eid)
    docs = tuple(_document(rng, f"S{i:05d}", lex, by_type) for i in range(n_train + n_test))
    return SyntheticSplit(docs[:n_train], docs[n_train:], lex)
