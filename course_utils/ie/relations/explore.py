"""Know the BioRED data before trusting a score: the chapter's corpus per profile, its exploration as tables and
figures, and the tables that compare relation models (chapter 13).

The seed explored LitCoin with ``DataFrame.info()`` and histograms of title and abstract lengths. This module
asks the questions that decide how the task must be modelled and scored, each as a function returning a pandas
DataFrame (one row per document, mention type, relation type or candidate pair), and draws the few that are
easier to see than to read:

* lengths (:func:`document_lengths`), mentions per entity type (:func:`mentions_per_type`), ids per mention
  (:func:`ids_per_mention`: a *composite* mention such as "breast and ovarian cancer" carries several ids) and
  distinct entities per document (:func:`entities_per_document`);
* relation types by entity-type pair (:func:`relation_type_pairs`): one type pair carrying several relation
  types is why a rule on types alone cannot do well; novelty per relation type (:func:`novelty_by_type`);
* the distance between the closest mentions of the two ids of a pair (:func:`pair_distances`, in characters and
  in words) and the share of pairs whose ids never share a sentence (:func:`cross_sentence_share`): a model that
  reads one sentence at a time cannot find those relations;
* candidate pairs against related pairs per document (:func:`pair_balance`): n ids give n(n-1)/2 candidate pairs,
  and most have no relation, which is what an accuracy over the related pairs alone never sees.

Definitions used throughout: a **word** is a run of letters, digits or underscores (``\\w+``; punctuation is not a
word, so ``IL-6`` is two words); **sentences** come from :func:`sentence_spans`: the title is one sentence, and the
abstract is split after ``.``, ``!`` or ``?`` followed by white space, unless the token ending there is a common
abbreviation (``e.g.``, ``i.e.``, ``et al.``, ``vs.``, ``Fig.``, ...) -- a rule, not a trained splitter such as
Punkt, stated so the counts can be checked. A mention belongs to the sentence in which it starts.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ...errors import CourseError
from ..biored import (
    ENTITY_TYPES,
    NO_RELATION,
    RELATION_TYPES,
    BioDocument,
    EntityMention,
    PairExample,
    biored_metrics,
    known_pairs_accuracy,
    labelled_pairs,
    read_pubtator,
    relation_scores,
)

__all__ = [
    "ExploreError",
    "SHORT_TYPES",
    "ChapterData",
    "chapter_data",
    "word_spans",
    "sentence_spans",
    "document_lengths",
    "mentions_per_type",
    "ids_per_mention",
    "entities_per_document",
    "relation_type_pairs",
    "novelty_by_type",
    "pair_distances",
    "cross_sentence_share",
    "pair_balance",
    "annotated_type_pairs",
    "pair_structure",
    "corpus_summary",
    "relation_summary",
    "relation_confusion",
    "plot_relation_type_pairs",
    "plot_distances",
    "plot_pair_balance",
    "plot_model_scores",
]

#: Short names of the six BioRED entity types, for axis labels.
SHORT_TYPES: dict[str, str] = {
    "GeneOrGeneProduct": "Gene",
    "DiseaseOrPhenotypicFeature": "Disease",
    "ChemicalEntity": "Chemical",
    "SequenceVariant": "Variant",
    "OrganismTaxon": "Organism",
    "CellLine": "CellLine",
}

_WORD = re.compile(r"\w+")
_BOUNDARY = re.compile(r"[.!?](?=\s|$)")
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "vs.", "approx.", "ca.", "cf.", "fig.", "figs.", "resp.", "no.", "dr.")


class ExploreError(CourseError, ValueError):
    """A chapter-13 corpus that cannot be found or explored as asked (chapter 13)."""


# ------------------------------------------------------------------------------------------------ the corpus


@dataclass(frozen=True)
class ChapterData:
    """The chapter's training and evaluation documents, where they come from and what the evaluation split is."""

    train: tuple[BioDocument, ...]
    test: tuple[BioDocument, ...]
    source: str
    test_name: str


def chapter_data(settings: Any) -> ChapterData:
    """Return the chapter-13 corpus of a profile: synthetic abstracts (smoke) or BioRED Train -> Dev (chapter 13).

    ``settings`` is chapter 13's :class:`~course_utils.profiles.RelationSettings`: ``dataset == "synthetic"`` makes
    ``n_train`` + ``n_test`` abstracts with :func:`~course_utils.ie.relations.synthetic.synthetic_biored` (seeded by
    ``seed``); any other value names the data layer's dataset (``biored``, fetched by manifest), read with the
    checked PubTator reader. Only Train and Dev are used: the model is trained on Train and scored on Dev.
    ``settings.train_documents`` / ``test_documents`` (when not None) keep the first N abstracts of each file (the
    lab rehearsal's size knob).
    """
    if settings.dataset == "synthetic":
        from .synthetic import synthetic_biored

        split = synthetic_biored(settings.n_train, settings.n_test, seed=settings.seed)
        return ChapterData(split.train, split.test, "synthetic", "synthetic test")
    from ...data.store import require_dataset

    folder = require_dataset(settings.dataset)
    files = {}
    for name in ("Train", "Dev"):
        found = sorted(folder.glob(f"**/{name}.PubTator"))
        if not found:
            raise ExploreError(f"no {name}.PubTator under {folder}; fetch the data again with "
                               f"`python -m course_utils.data fetch {settings.dataset}`.")
        files[name] = found[0]
    train = read_pubtator(files["Train"]).documents
    dev = read_pubtator(files["Dev"]).documents
    n_train, n_test = getattr(settings, "train_documents", None), getattr(settings, "test_documents", None)
    source = f"{settings.dataset} ({folder})"
    if n_train is not None or n_test is not None:  # a rehearsal's size knob: the first N abstracts of each file
        train, dev = train[:n_train], dev[:n_test]
        source += f", first {len(train)} Train and {len(dev)} Dev abstracts"
    return ChapterData(train, dev, source, "BioRED Dev")


# ------------------------------------------------------------------------------------------------ words, sentences


def word_spans(text: str) -> list[tuple[int, int]]:
    """Return the ``(start, end)`` of every word of ``text``: runs of letters, digits or underscores (chapter 13)."""
    return [m.span() for m in _WORD.finditer(text)]


def _split(text: str, offset: int) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        tail = text[start:end].lower()
        if any(tail.endswith(a) and (len(tail) == len(a) or not tail[-len(a) - 1].isalnum())
               for a in _ABBREVIATIONS):
            continue
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    out = []
    for a, b in spans:  # trim white space; drop empty pieces
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a + offset, b + offset))
    return out


def sentence_spans(doc: BioDocument) -> list[tuple[int, int]]:
    """Return the sentences of ``doc.text`` as ``(start, end)``: the title, then the abstract split after ``.``,
    ``!`` or ``?`` followed by white space, except after common abbreviations (chapter 13)."""
    return [*_title_span(doc), *_split(doc.abstract, len(doc.title) + 1)]


def _title_span(doc: BioDocument) -> list[tuple[int, int]]:
    a, b = 0, len(doc.title)
    while a < b and doc.title[a].isspace():
        a += 1
    while b > a and doc.title[b - 1].isspace():
        b -= 1
    return [(a, b)] if a < b else []


def _sentence_of(starts: Sequence[int], position: int) -> int:
    return max(bisect.bisect_right(starts, position) - 1, 0)


# ------------------------------------------------------------------------------------------------ documents


def document_lengths(documents: Sequence[BioDocument]) -> pd.DataFrame:
    """Return one row per document: characters of title, abstract and text, words and sentences (chapter 13)."""
    rows = [{"doc_id": d.doc_id, "title_chars": len(d.title), "abstract_chars": len(d.abstract),
             "chars": len(d.text), "words": len(word_spans(d.text)), "sentences": len(sentence_spans(d))}
            for d in documents]
    return pd.DataFrame(rows, columns=["doc_id", "title_chars", "abstract_chars", "chars", "words",
                                       "sentences"]).set_index("doc_id")


def _type_order(types: Iterable[str], known: Sequence[str]) -> list[str]:
    present = set(types)
    return [t for t in known if t in present] + sorted(present - set(known))


def mentions_per_type(documents: Sequence[BioDocument]) -> pd.DataFrame:
    """Return, per entity type, its mentions, distinct ids, documents holding it and mentions per document
    (over all documents) (chapter 13)."""
    mentions: Counter[str] = Counter()
    ids: dict[str, set[str]] = {}
    docs: Counter[str] = Counter()
    for d in documents:
        for t in {m.type for m in d.mentions}:
            docs[t] += 1
        for m in d.mentions:
            mentions[m.type] += 1
            ids.setdefault(m.type, set()).update(m.ids)
    order = _type_order(mentions, ENTITY_TYPES)
    n = max(len(documents), 1)
    frame = pd.DataFrame({"mentions": [mentions[t] for t in order], "distinct_ids": [len(ids[t]) for t in order],
                          "documents": [docs[t] for t in order],
                          "mentions_per_document": [mentions[t] / n for t in order]},
                         index=pd.Index(order, name="entity type"))
    return frame


def ids_per_mention(documents: Sequence[BioDocument]) -> pd.DataFrame:
    """Return how many mentions carry 0, 1, 2, ... ids and their share; more than one is a composite mention
    (chapter 13)."""
    counts = Counter(len(m.ids) for d in documents for m in d.mentions)
    total = sum(counts.values())
    keys = sorted(counts)
    return pd.DataFrame({"mentions": [counts[k] for k in keys],
                         "share": [counts[k] / total if total else 0.0 for k in keys]},
                        index=pd.Index(keys, name="ids per mention"))


def entities_per_document(documents: Sequence[BioDocument]) -> pd.DataFrame:
    """Return one row per document: mentions, composite mentions (several ids), distinct entity ids and
    relations (chapter 13)."""
    rows = [{"doc_id": d.doc_id, "mentions": len(d.mentions), "composite": sum(len(m.ids) > 1 for m in d.mentions),
             "entities": len(d.entity_types()), "relations": len(d.relations)} for d in documents]
    return pd.DataFrame(rows, columns=["doc_id", "mentions", "composite", "entities", "relations"]).set_index("doc_id")


# ------------------------------------------------------------------------------------------------ relations


def relation_type_pairs(documents: Sequence[BioDocument], *, include_none: bool = False) -> pd.DataFrame:
    """Return a crosstab of relations: one row per sorted entity-type pair, one column per relation type
    (with ``include_none`` also the candidate pairs with no relation, column ``None``) (chapter 13)."""
    counts: Counter[tuple[tuple[str, str], str]] = Counter()
    for d in documents:
        for p in labelled_pairs(d):
            if p.relation == NO_RELATION and not include_none:
                continue
            counts[(p.type_pair, p.relation)] += 1
    rows = sorted({k[0] for k in counts}, key=lambda tp: (-sum(v for (r, _), v in counts.items() if r == tp), tp))
    columns = _type_order({k[1] for k in counts} - {NO_RELATION}, RELATION_TYPES)
    if include_none and any(k[1] == NO_RELATION for k in counts):
        columns.append(NO_RELATION)
    index = pd.MultiIndex.from_tuples(rows, names=["entity 1", "entity 2"]) if rows else \
        pd.MultiIndex.from_tuples([], names=["entity 1", "entity 2"])
    data = [[counts[(r, c)] for c in columns] for r in rows]
    frame = pd.DataFrame(data, index=index, columns=pd.Index(columns, name="relation"), dtype=int)
    return frame


def novelty_by_type(documents: Sequence[BioDocument]) -> pd.DataFrame:
    """Return, per relation type and for all relations, the novel, not novel and unmarked relations and the novel
    share among the marked ones (chapter 13)."""
    counts: dict[str, Counter[str]] = {}
    for d in documents:
        for r in d.relations:
            key = "novel" if r.novel else ("not_novel" if r.novel is False else "unmarked")
            counts.setdefault(r.type, Counter())[key] += 1
    order = _type_order(counts, RELATION_TYPES)
    rows = {t: counts[t] for t in order}
    rows["all relations"] = sum((counts[t] for t in order), Counter())
    frame = pd.DataFrame({"relations": [sum(c.values()) for c in rows.values()],
                          "novel": [c["novel"] for c in rows.values()],
                          "not_novel": [c["not_novel"] for c in rows.values()],
                          "unmarked": [c["unmarked"] for c in rows.values()]},
                         index=pd.Index(list(rows), name="relation"))
    marked = frame["novel"] + frame["not_novel"]
    frame["novel_share"] = np.where(marked > 0, frame["novel"] / marked.where(marked > 0, 1), np.nan)
    return frame


def _closest(a_mentions: Sequence[EntityMention], b_mentions: Sequence[EntityMention], starts: Sequence[int],
             word_starts: Sequence[int], word_ends: Sequence[int]) -> tuple[float, float, bool]:
    best_chars, best_words, same = np.inf, np.inf, False
    for a in a_mentions:
        for b in b_mentions:
            if a.start < b.end and b.start < a.end:  # overlapping, or one composite mention holding both ids
                chars, words = 0, 0
            else:
                first, second = (a, b) if a.start < b.start else (b, a)
                gap0, gap1 = first.end, second.start
                chars = gap1 - gap0
                words = max(0, bisect.bisect_right(word_ends, gap1) - bisect.bisect_left(word_starts, gap0))
            best_chars, best_words = min(best_chars, chars), min(best_words, words)
            same = same or _sentence_of(starts, a.start) == _sentence_of(starts, b.start)
    return best_chars, best_words, same


def pair_distances(documents: Sequence[BioDocument], *, related_only: bool = False) -> pd.DataFrame:
    """Return one row per candidate pair (only the related ones with ``related_only``): its relation (``None``
    when unrelated), novelty, the distance between the closest mentions of its two ids in characters and in words
    (the gap between them; 0 when they overlap), and whether any two of their mentions share a sentence
    (chapter 13)."""
    rows = []
    for d in documents:
        text = d.text
        starts = [a for a, _ in sentence_spans(d)]
        words = word_spans(text)
        word_starts, word_ends = [a for a, _ in words], [b for _, b in words]
        by_id: dict[str, list[EntityMention]] = {}
        for m in d.mentions:
            for eid in m.ids:
                by_id.setdefault(eid, []).append(m)
        for p in labelled_pairs(d):
            if related_only and p.relation == NO_RELATION:
                continue
            chars, n_words, same = _closest(by_id.get(p.id1, []), by_id.get(p.id2, []), starts, word_starts,
                                            word_ends)
            rows.append({"doc_id": d.doc_id, "id1": p.id1, "id2": p.id2, "type1": p.type1, "type2": p.type2,
                         "relation": p.relation, "novel": p.novel,
                         "chars": chars if np.isfinite(chars) else np.nan,
                         "words": n_words if np.isfinite(n_words) else np.nan, "same_sentence": same})
    columns = ["doc_id", "id1", "id2", "type1", "type2", "relation", "novel", "chars", "words", "same_sentence"]
    return pd.DataFrame(rows, columns=columns)


def cross_sentence_share(documents: Sequence[BioDocument]) -> pd.DataFrame:
    """Return, per relation type, for all related pairs and for the unrelated candidate pairs: the pairs, how many
    never have their two ids in one sentence, that share, and the median distance in words (chapter 13).

    Rows count candidate pairs (a pair annotated with two relation types counts once, with the type
    :func:`~course_utils.ie.biored.labelled_pairs` keeps)."""
    table = pair_distances(documents)
    groups: dict[str, pd.DataFrame] = {}
    related = table[table["relation"] != NO_RELATION]
    for t in _type_order(related["relation"], RELATION_TYPES):
        groups[t] = related[related["relation"] == t]
    groups["related pairs"] = related
    groups["no relation"] = table[table["relation"] == NO_RELATION]
    rows = {}
    for name, part in groups.items():
        n = len(part)
        cross = int((~part["same_sentence"].astype(bool)).sum()) if n else 0
        rows[name] = {"pairs": n, "never_in_one_sentence": cross, "share": cross / n if n else np.nan,
                      "median_words": float(part["words"].median()) if n else np.nan}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("pairs of")


def pair_balance(documents: Sequence[BioDocument]) -> pd.DataFrame:
    """Return one row per document: entity ids, candidate pairs (n(n-1)/2), related pairs, no-relation pairs and
    the no-relation share (chapter 13)."""
    rows = []
    for d in documents:
        pairs = labelled_pairs(d)
        related = sum(p.relation != NO_RELATION for p in pairs)
        rows.append({"doc_id": d.doc_id, "entities": len(d.entity_types()), "candidate_pairs": len(pairs),
                     "related_pairs": related, "no_relation_pairs": len(pairs) - related,
                     "no_relation_share": (len(pairs) - related) / len(pairs) if pairs else np.nan})
    return pd.DataFrame(rows, columns=["doc_id", "entities", "candidate_pairs", "related_pairs", "no_relation_pairs",
                                       "no_relation_share"]).set_index("doc_id")


def annotated_type_pairs(documents: Sequence[BioDocument]) -> set[tuple[str, str]]:
    """Return the sorted entity-type pairs that carry at least one relation in ``documents`` (chapter 13).

    On BioRED Train these are pairs of Disease, Gene, Chemical and Variant ids: no relation ever involves an
    OrganismTaxon or a CellLine, and none joins two diseases.
    """
    out: set[tuple[str, str]] = set()
    for d in documents:
        types = d.entity_types()
        for r in d.relations:
            if r.id1 in types and r.id2 in types:
                out.add(tuple(sorted((types[r.id1], types[r.id2]))))  # type: ignore[arg-type]
    return out


def pair_structure(corpora: Mapping[str, Sequence[BioDocument]], annotated: set[tuple[str, str]]) -> pd.DataFrame:
    """Return one row per named corpus: how much of "no relation" is structural (chapter 13).

    Columns: candidate pairs; the share of them whose entity-type pair is not in ``annotated`` (type pairs the
    annotation never relates, fitted on training documents: :func:`annotated_type_pairs`); the no-relation share
    over all candidates and within the annotated type pairs; gold relations, and those no candidate pair can
    reach (self-relations, ``id1 == id2``).
    """
    rows = {}
    for name, docs in corpora.items():
        pairs = [p for d in docs for p in labelled_pairs(d)]
        inside = [p for p in pairs if p.type_pair in annotated]
        relations = sum(len(d.relations) for d in docs)
        rows[name] = {
            "candidate_pairs": len(pairs),
            "unannotated_type_pair_share": 1 - len(inside) / len(pairs) if pairs else np.nan,
            "no_relation_share": sum(p.relation == NO_RELATION for p in pairs) / len(pairs) if pairs else np.nan,
            "no_relation_share_annotated_types": (sum(p.relation == NO_RELATION for p in inside) / len(inside)
                                                  if inside else np.nan),
            "relations": relations,
            "self_relations": sum(r.id1 == r.id2 for d in docs for r in d.relations),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def corpus_summary(corpora: Mapping[str, Sequence[BioDocument]]) -> pd.DataFrame:
    """Return one row per named corpus: documents, median words, mentions, composite share, entities, relations,
    novel share, candidate pairs, no-relation share and the share of related pairs never within one sentence
    (chapter 13)."""
    rows = {}
    for name, docs in corpora.items():
        lengths = document_lengths(docs)
        ents = entities_per_document(docs)
        balance = pair_balance(docs)
        novelty = novelty_by_type(docs).loc["all relations"]
        cross = cross_sentence_share(docs).loc["related pairs"]
        pairs = int(balance["candidate_pairs"].sum())
        mentions = int(ents["mentions"].sum())
        rows[name] = {"documents": len(docs), "median_words": float(lengths["words"].median()) if len(docs) else 0.0,
                      "mentions": mentions,
                      "composite_share": float(ents["composite"].sum() / mentions) if mentions else 0.0,
                      "entities": int(ents["entities"].sum()), "relations": int(ents["relations"].sum()),
                      "novel_share": float(novelty["novel_share"]), "candidate_pairs": pairs,
                      "no_relation_share": float(balance["no_relation_pairs"].sum() / pairs) if pairs else np.nan,
                      "cross_sentence_share": float(cross["share"])}
    return pd.DataFrame.from_dict(rows, orient="index")


# ------------------------------------------------------------------------------------------------ model tables


def relation_summary(gold: Sequence[BioDocument], predicted: Sequence[PairExample],
                     related_only: Sequence[PairExample] | None = None) -> dict[str, float]:
    """Return one model's row: F1 of BioCreative VIII's four BioRED metrics (the paper's three and pair + novelty),
    relation micro- and macro-F1 (macro over the gold relation types present) and accuracy on the gold-related
    pairs only (chapter 13).

    ``predicted`` holds every candidate pair the model labelled (``NO_RELATION`` included), over gold or over
    predicted entities; a relation counts only when document, ids (and type, and novelty) equal a gold one. Its
    known-pairs accuracy charges every *None* on a related pair as an error, so for a model with a *None* class
    it mostly measures abstention. ``related_only``, when given, holds the same model's predictions with the
    argmax restricted to the relation types (:func:`~course_utils.ie.relations.models.predict_relations` with
    ``related_only=True``, or a rule fitted on related pairs): its known-pairs accuracy is the seed's setting,
    reported as ``"known-pairs accuracy (relation types only)"``.
    """
    metrics = biored_metrics(gold, predicted)
    rel = relation_scores(gold, predicted)
    gold_pairs = [p for d in gold for p in labelled_pairs(d)]

    def lookup(pairs: Sequence[PairExample]) -> dict[tuple[str, str, str], str]:
        return {(p.doc_id, *sorted((p.id1, p.id2))): p.relation for p in pairs if p.relation != NO_RELATION}

    row = {"entity pair F1": metrics["entity_pair"].f1, "pair + type F1": metrics["pair_type"].f1,
           "pair + novelty F1": metrics["pair_novelty"].f1,
           "pair + type + novelty F1": metrics["pair_type_novelty"].f1, "micro-F1": rel.micro_f1,
           "macro-F1": rel.macro_f1, "known-pairs accuracy": known_pairs_accuracy(gold_pairs, lookup(predicted))}
    if related_only is not None:
        row["known-pairs accuracy (relation types only)"] = known_pairs_accuracy(gold_pairs, lookup(related_only))
    return row


def relation_confusion(gold: Sequence[BioDocument], predicted: Sequence[PairExample]) -> pd.DataFrame:
    """Return the crosstab of gold against predicted relation type over the gold candidate pairs (``None``
    included; a pair the prediction does not cover counts as ``None``) (chapter 13)."""
    pred = {(p.doc_id, *sorted((p.id1, p.id2))): p.relation for p in predicted}
    gold_rel, pred_rel = [], []
    for d in gold:
        for p in labelled_pairs(d):
            gold_rel.append(p.relation)
            pred_rel.append(pred.get((p.doc_id, p.id1, p.id2), NO_RELATION))
    labels = _type_order(set(gold_rel) | set(pred_rel), (*RELATION_TYPES, NO_RELATION))
    table = pd.crosstab(pd.Categorical(gold_rel, categories=labels), pd.Categorical(pred_rel, categories=labels),
                        rownames=["gold"], colnames=["predicted"], dropna=False)
    return table


# ------------------------------------------------------------------------------------------------ figures


def plot_relation_type_pairs(table: pd.DataFrame, *, title: str = "") -> Any:
    """Return a heat map of a :func:`relation_type_pairs` crosstab, counts written in the cells (chapter 13)."""
    import matplotlib.pyplot as plt

    from ...plotting import apply_style

    apply_style()
    labels = [f"{SHORT_TYPES.get(a, a)} - {SHORT_TYPES.get(b, b)}" for a, b in table.index]
    values = table.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.1 * max(len(table.columns), 3) + 2.2, 0.38 * max(len(labels), 2) + 1.4))
    shown = np.log1p(values)
    ax.imshow(shown, cmap="Blues", aspect="auto", vmin=0, vmax=max(float(shown.max()), 1.0) * 1.15)
    ax.set_xticks(range(len(table.columns)))
    ax.set_xticklabels([c.replace("_", " ") for c in table.columns], rotation=30, ha="right")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if values[i, j]:
                ax.text(j, i, f"{int(values[i, j])}", ha="center", va="center", fontsize=7)
    ax.set_xlabel("relation type")
    ax.set_title(title or "relations by entity-type pair")
    fig.tight_layout()
    return fig


def plot_distances(distances: pd.DataFrame, *, unit: str = "words", title: str = "") -> Any:
    """Return histograms of the distance between the closest mentions of related and of unrelated candidate
    pairs (a :func:`pair_distances` table), with the share of pairs never within one sentence (chapter 13)."""
    import matplotlib.pyplot as plt

    from ...plotting import apply_style

    if unit not in ("words", "chars"):
        raise ExploreError(f"unit must be 'words' or 'chars', not {unit!r}")
    apply_style()
    fig, ax = plt.subplots(figsize=(6.0, 3.0))
    related = distances["relation"] != NO_RELATION
    values = distances[unit].dropna()
    top = float(values.quantile(0.98)) if len(values) else 1.0
    bins = np.linspace(0, max(top, 1.0), 31)
    for mask, name, colour in ((related, "related pairs", "#d95f02"), (~related, "no relation", "#7570b3")):
        part = distances.loc[mask]
        if not len(part):
            continue
        cross = 1 - part["same_sentence"].astype(bool).mean()
        ax.hist(part[unit].dropna().clip(upper=bins[-1]), bins=bins, alpha=0.6, color=colour, density=True,
                label=f"{name} ({len(part)}; {cross:.0%} never in one sentence)")
    ax.set_xlabel(f"distance between the closest mentions ({'words' if unit == 'words' else 'characters'})")
    ax.set_ylabel("density")
    ax.legend(frameon=False)
    ax.set_title(title or "how far apart the two entities of a pair are")
    fig.tight_layout()
    return fig


def plot_pair_balance(balance: pd.DataFrame, *, title: str = "") -> Any:
    """Return a scatter of candidate pairs and related pairs against entity ids per document (a
    :func:`pair_balance` table), with the curve n(n-1)/2 (chapter 13)."""
    import matplotlib.pyplot as plt

    from ...plotting import apply_style

    apply_style()
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.15, 0.15, len(balance))
    n = balance["entities"].to_numpy(dtype=float)
    ax.scatter(n + jitter, balance["candidate_pairs"], s=10, alpha=0.6, color="#7570b3", label="candidate pairs")
    ax.scatter(n + jitter, balance["related_pairs"], s=10, alpha=0.6, color="#d95f02", label="related pairs")
    if len(n):
        grid = np.linspace(max(n.min(), 2), n.max(), 100)
        ax.plot(grid, grid * (grid - 1) / 2, color="#7570b3", lw=1, label="n(n-1)/2")
    ax.set_xlabel("entity ids in the document (n)")
    ax.set_ylabel("pairs per document")
    ax.legend(frameon=False)
    ax.set_title(title or "candidate pairs grow as n(n-1)/2, related pairs do not")
    fig.tight_layout()
    return fig


def plot_model_scores(table: pd.DataFrame, *, xlabel: str = "score", title: str = "") -> Any:
    """Return a horizontal bar chart with one group of bars per model (the rows of ``table``) and one bar per column
    (e.g. the seed's accuracy and F1 with gold and with predicted entities), values written beside the bars
    (chapter 13)."""
    import matplotlib.pyplot as plt

    from ...plotting import apply_style

    if table.empty or isinstance(table.columns, pd.MultiIndex):
        raise ExploreError("plot_model_scores needs one row per model and flat columns, one per score to show")
    apply_style()
    columns = list(table.columns)
    fig, ax = plt.subplots(figsize=(8.5, 0.3 * len(table) * len(columns) + 1.2))
    height = 0.8 / len(columns)
    colours = ("#7570b3", "#1b9e77", "#d95f02", "#e7298a", "#66a61e")
    y = np.arange(len(table))
    for k, column in enumerate(columns):
        values = table[column].to_numpy(dtype=float)
        ax.barh(y + k * height, values, height=height, color=colours[k % len(colours)], label=str(column))
        for yi, v in zip(y + k * height, values):
            if np.isfinite(v):
                ax.text(v + 0.01, yi, f"{v:.2f}", va="center", fontsize=7)
    ax.set_yticks(y + height * (len(columns) - 1) / 2)
    ax.set_yticklabels(table.index)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.set_xlabel(xlabel)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or "scores per model")
    fig.tight_layout()
    return fig
