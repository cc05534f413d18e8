"""Synthetic disease concepts with planted synonym sets: the smoke profile's linking data (chapter 14)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .vocabulary import Concept, Vocabulary

__all__ = [
    "SyntheticLinking",
    "synthetic_linking",
]

# ------------------------------------------------------------------------------------------------------------
# Synthetic concepts with planted synonym sets (smoke profile).

_ORGANS = [("kidney", "renal"), ("liver", "hepatic"), ("heart", "cardiac"), ("lung", "pulmonary"),
           ("brain", "cerebral"), ("skin", "cutaneous"), ("bone", "osseous"), ("stomach", "gastric"),
           ("blood", "haematological"), ("eye", "ocular"), ("ear", "otic"), ("bowel", "intestinal"),
           ("breast", "mammary"), ("muscle", "muscular"), ("nerve", "neural"), ("joint", "articular")]
_KINDS = [("failure", "insufficiency"), ("tumour", "neoplasm"), ("inflammation", "itis"),
          ("cancer", "carcinoma"), ("disease", "disorder"), ("bleeding", "haemorrhage"),
          ("infection", "sepsis"), ("cyst", "cystic lesion"), ("pain", "ache"), ("degeneration", "atrophy")]
_QUALIFIERS = [("acute", "sudden onset"), ("chronic", "long standing"), ("congenital", "inherited"),
               ("primary", "idiopathic")]


@dataclass(frozen=True)
class SyntheticLinking:
    """Synthetic concepts (smoke): dictionary names, training pairs, and test mentions with their gold ids."""

    concepts: tuple[Concept, ...]
    train_pairs: tuple[tuple[str, str], ...]  # (mention surface form, concept id) of training concepts
    test_mentions: tuple[tuple[str, str, str], ...]  # (surface form, gold id, variant kind) of held-out concepts
    train_ids: frozenset[str]
    test_ids: frozenset[str]
    variant_kinds: tuple[str, ...] = field(default=("synonym", "reordered", "abbreviation", "misspelling"))

    def vocabulary(self) -> Vocabulary:
        """Return the dictionary: each concept's preferred name only (as in a real ontology with few synonyms)."""
        return Vocabulary(tuple(c.names[0] for c in self.concepts), tuple(c.id for c in self.concepts))


def _misspell(word: str, rng: np.random.Generator) -> str:
    if len(word) < 5:
        return word
    i = int(rng.integers(1, len(word) - 2))
    ops = [word[:i] + word[i + 1] + word[i] + word[i + 2:], word[:i] + word[i + 1:], word[:i] + word[i] + word[i:]]
    return ops[int(rng.integers(len(ops)))]


def synthetic_linking(*, seed: int = 1234, test_fraction: float = 0.3) -> SyntheticLinking:
    """Return synthetic disease concepts with planted synonym sets, split by concept (chapter 14, smoke).

    A concept is (qualifier,) organ, kind: its preferred name uses the plain words ("acute kidney failure").
    Its other surface forms follow rules shared by every concept, so that an encoder trained on some concepts
    can link the others: word synonyms ("renal insufficiency" -- character n-grams barely overlap), reordering
    ("failure of the kidney"), initials ("AKF") and misspellings. Test mentions come only from concepts held
    out of training; the dictionary holds every concept's preferred name, including near-duplicates that share
    all but one word, so that surface overlap alone is misleading.
    """
    rng = np.random.default_rng(seed)
    concepts: list[Concept] = []
    index = 0
    for q_plain, q_syn in [("", "")] + _QUALIFIERS:
        for o_plain, o_syn in _ORGANS:
            for k_plain, k_syn in _KINDS:
                if q_plain and rng.random() < 0.6:
                    continue  # not every qualified concept exists
                index += 1
                cid = f"C{index:07d}"
                pref = " ".join(w for w in (q_plain, o_plain, k_plain) if w)
                syn = " ".join(w for w in (q_syn, o_syn, k_syn) if w)
                reordered = f"{k_plain} of the {o_plain}" + (f", {q_plain}" if q_plain else "")
                initials = "".join(w[0] for w in pref.split()).upper()
                misspelt = " ".join(_misspell(w, rng) for w in pref.split())
                concepts.append(Concept(cid, (pref, syn, reordered, initials, misspelt)))
    order = rng.permutation(len(concepts))
    n_test = int(round(test_fraction * len(concepts)))
    test_ids = frozenset(concepts[i].id for i in order[:n_test])
    train_ids = frozenset(c.id for c in concepts) - test_ids
    kinds = ("synonym", "reordered", "abbreviation", "misspelling")
    train_pairs = tuple((name, c.id) for c in concepts if c.id in train_ids for name in c.names)
    test_mentions = tuple((c.names[1 + j], c.id, kinds[j]) for c in concepts if c.id in test_ids
                          for j in range(4) if not (kinds[j] == "abbreviation"))
    return SyntheticLinking(tuple(concepts), train_pairs, test_mentions, train_ids, test_ids)
