"""Entity-linking data: the task chapter 14 links, whatever the profile, and the training rows (chapter 14).

Everything here turns files into plain records and states its rules, so that the linking chapter can score
them without hidden choices. The records, readers and id rules are :mod:`.vocabulary`; abbreviations and
composites :mod:`.abbreviations`; the synthetic concepts of smoke :mod:`.synthetic`. Their public names are
re-exported here, where the chapter and its command have always imported them.

* **ids** -- a mention's id field holds one id, or several joined by ``|`` or ``+`` (a composite mention such as
  "breast and ovarian cancer", or alternative ids). Ids are stripped of stray spaces (the corpus has a few:
  ``"OMIM:106210 "``) and those are counted, never fatal. MeSH ids stay as they are (``D012878``, ``C565176``);
  OMIM numbers are written ``OMIM:nnnnnn`` in both the corpus and the vocabulary.
* **names** -- :func:`normalize_name` lower-cases, turns every character that is not a letter or digit into a
  space and collapses spaces: "Colon-Cancers," and "colon cancers" become the same key. This is the rule the
  exact-match baseline and the dictionary use.
* **abbreviations** -- :func:`schwartz_hearst` finds "long form (SF)" definitions in an abstract (Schwartz and
  Hearst 2003, the preprocessing BioSyn and SapBERT apply), so a mention "APC" can be linked as "adenomatous
  polyposis coli".
* **composites** -- :func:`split_composite` splits "colon and some other cancers" into "colon cancers" and "some
  other cancers" (the head noun of the last conjunct is shared).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .abbreviations import (
    cited_omim_ids,
    document_abbreviations,
    expand_abbreviations,
    is_short_form,
    schwartz_hearst,
    split_composite,
)
from .synthetic import SyntheticLinking, synthetic_linking
from .vocabulary import (
    Concept,
    IdReport,
    LinkingDataError,
    Mention,
    Vocabulary,
    id_report,
    normalize_name,
    parse_ids,
    read_disease_vocab,
    read_ncbi_disease,
)

__all__ = [
    "LinkingDataError",
    "Mention",
    "Concept",
    "Vocabulary",
    "IdReport",
    "normalize_name",
    "parse_ids",
    "read_ncbi_disease",
    "read_disease_vocab",
    "id_report",
    "schwartz_hearst",
    "expand_abbreviations",
    "split_composite",
    "is_short_form",
    "document_abbreviations",
    "cited_omim_ids",
    "SyntheticLinking",
    "synthetic_linking",
    "LinkingTask",
    "ncbi_task",
    "expanded_mentions",
    "task_from_mentions",
    "document_folds",
    "biored_disease_rows",
    "biored_training_rows",
    "held_out_documents",
    "HeldOutDocuments",
    "extended_training_rows",
    "linking_task",
]

# ------------------------------------------------------------------------------------------------------------
# One task object for the chapter, whatever the profile.


@dataclass(frozen=True)
class LinkingTask:
    """What chapter 14 links: a dictionary, training (name, id) rows, and test queries with gold ids."""

    name: str
    dictionary: Vocabulary  # the primary dictionary (real data: vocabulary + training mentions)
    vocabulary_only: Vocabulary  # the ontology's names alone
    train_rows: tuple[tuple[str, str], ...]  # (name, concept id) rows self-alignment learns from
    queries: tuple[str, ...]
    gold: tuple[tuple[str, ...], ...]
    kinds: tuple[str, ...]  # per query: the variant kind (synthetic) or the mention type (real)
    description: str
    # per query, its other surface form: abbreviations expanded in its abstract when the queries are as
    # written, as written when they are expanded (real data; empty for synthetic concepts, which have no abstract)
    variants: tuple[str, ...] = ()
    known_ids: frozenset[str] = frozenset()  # ids of the training annotations (real data; synthetic: none)
    cited: tuple[frozenset[str], ...] = ()  # per query, the OMIM ids its abstract cites (real data; synthetic: none)


def expanded_mentions(mentions: Sequence[Mention], texts: dict[str, str]) -> list[str]:
    """Return each mention with its abstract's short forms expanded (chapter 14): by the abstract's own
    "long form (SF)" definitions (:func:`schwartz_hearst`), else, for a short form never defined, by a long form
    among the same document's other mentions (:func:`document_abbreviations`)."""
    found = {doc: schwartz_hearst(texts[doc]) for doc in {m.doc_id for m in mentions}}
    in_doc: dict[str, list[str]] = {}
    for m in mentions:
        in_doc.setdefault(m.doc_id, []).append(m.text)
    undefined = {doc: document_abbreviations(names, found[doc]) for doc, names in in_doc.items()}
    out = []
    for m in mentions:
        text = expand_abbreviations(m.text, found[m.doc_id])
        out.append(text if text != m.text else expand_abbreviations(m.text, undefined[m.doc_id]))
    return out


def ncbi_task(train_file: str | Path, test_file: str | Path, vocab_folder: str | Path, *,
              abbreviations: bool = False, composites: bool = True) -> LinkingTask:
    """Return the NCBI-disease task (chapter 14): dictionary = vocabulary + training mentions (BioSyn/SapBERT
    protocol); queries = the test file's mentions; training rows = the vocabulary names of the training
    mentions' ids plus the single-id mentions themselves.

    ``abbreviations``: expand short forms in each mention's own abstract (:func:`expanded_mentions`: its
    Schwartz-Hearst definitions, else a long form among its other mentions; queries and training mentions
    alike). Off by default: with the training mentions in the dictionary, a short form as written usually finds
    its own earlier annotation (develop, TF-IDF Acc@1: 0.793 as written, 0.790 expanded); with the vocabulary
    alone, expansion wins (0.432 against 0.299). Either way ``variants`` holds the other form of each query and
    ``cited`` the OMIM ids its abstract cites, for :class:`~course_utils.ie.linking.linkers.ContextLinker` (TF-IDF with
    both forms, the prior of ``known_ids`` and the citation bonus: 0.834). ``composites``: a training mention with several ids (a composite such as "breast
    and ovarian cancer", or alternative ids) also enters the dictionary, once under each of its ids, as BioSyn
    keeps them; it never enters the training rows, whose pairs must name one concept.
    """
    train_texts, train, _ = read_ncbi_disease(train_file)
    test_texts, test, _ = read_ncbi_disease(test_file)
    return task_from_mentions(train_texts, train, test_texts, test, read_disease_vocab(vocab_folder),
                              name=f"NCBI-disease {Path(test_file).stem}", test_label=Path(test_file).name,
                              abbreviations=abbreviations, composites=composites)


def task_from_mentions(train_texts: dict[str, str], train: Sequence[Mention], test_texts: dict[str, str],
                       test: Sequence[Mention], vocab: Vocabulary, *, name: str = "linking", test_label: str = "test",
                       abbreviations: bool = False, composites: bool = True) -> LinkingTask:
    """Return the linking task of :func:`ncbi_task` from mentions already read (chapter 14): the same rules, for
    any split of annotated documents into a dictionary half and a query half (the cross-validation benchmarks)."""

    def surface(mentions: Sequence[Mention], texts: dict[str, str], expand: bool = abbreviations) -> list[str]:
        return expanded_mentions(mentions, texts) if expand else [m.text for m in mentions]

    train_q = surface(train, train_texts)
    single = [(q, m.ids[0]) for q, m in zip(train_q, train) if len(m.ids) == 1]
    listed = [(q, c) for q, m in zip(train_q, train) if len(m.ids) == 1 or composites for c in m.ids]
    # Training mentions first: a name that is both a training mention and a vocabulary name of another id (a
    # tie for every linker) resolves to the corpus's own annotation (measured on develop with TF-IDF: 0.767 Acc@1
    # this way, 0.658 with the vocabulary first).
    dictionary = vocab.extended([q for q, _ in listed], [c for _, c in listed], "train mentions", first=True)
    train_ids = {c for _, c in single}
    rows = tuple((n, c) for n, c in zip(vocab.names, vocab.ids) if c in train_ids) + tuple(single)
    how = ", abbreviations expanded" if abbreviations else ", abbreviations as written"
    return LinkingTask(name, dictionary, vocab, rows,
                       tuple(surface(test, test_texts)), tuple(m.ids for m in test), tuple(m.type for m in test),
                       f"{len(test)} mentions of {test_label}{how}; dictionary of {len(vocab):,} "
                       f"MeSH/OMIM names + {len(dictionary) - len(vocab):,} training-mention rows",
                       tuple(surface(test, test_texts, not abbreviations)), frozenset(c for m in train for c in m.ids),
                       tuple(frozenset(cited_omim_ids(test_texts[m.doc_id])) for m in test))


def document_folds(documents: Iterable[str], mentions: Sequence[Mention], seed: int = 0
                   ) -> list[tuple[list[Mention], list[Mention]]]:
    """Return two folds of ``(dictionary half, query half)`` mentions, split by document (chapter 14).

    The sorted ``documents`` are shuffled with ``seed``; the first half's mentions are fold 0's dictionary side
    and fold 1's queries, and the other way round. The cross-validation benchmarks all use this split, so
    their folds are the same documents.
    """
    docs = sorted(documents)
    np.random.default_rng(seed).shuffle(docs)
    first = set(docs[:len(docs) // 2])
    first_half = [m for m in mentions if m.doc_id in first]
    second_half = [m for m in mentions if m.doc_id not in first]
    return [(first_half, second_half), (second_half, first_half)]


def biored_disease_rows(files: Sequence[str | Path], *, exclude_documents: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Return (mention, id) rows of BioRED's disease mentions with one MeSH or OMIM id (chapter 14).

    Extra self-alignment data for NCBI-disease: BioRED annotates diseases with the same MeSH ids. Abbreviations
    are expanded in their own abstract, as the queries are; documents in ``exclude_documents`` are left out:
    pass every NCBI-disease develop *and test* PMID (BioRED shares abstracts with both; :func:`biored_training_rows`
    does this), so no evaluation mention is trained on. Mentions whose ids are in no known format are skipped, not fatal.
    """
    from ..biored import read_pubtator

    excluded = set(exclude_documents)
    rows: list[tuple[str, str]] = []
    for file in files:
        for doc in read_pubtator(file).documents:
            if doc.doc_id in excluded:
                continue
            abbreviations = schwartz_hearst(f"{doc.title} {doc.abstract}")
            for mention in doc.mentions:
                if not mention.type.startswith("Disease") or len(mention.ids) != 1:
                    continue
                try:
                    ids, _ = parse_ids(mention.ids[0], where=f"{file}: document {doc.doc_id}")
                except LinkingDataError:
                    continue
                if len(ids) == 1:
                    rows.append((expand_abbreviations(mention.text, abbreviations), ids[0]))
    return rows


@dataclass(frozen=True)
class HeldOutDocuments:
    """The PMIDs no training set of chapter 14 may hold: NCBI-disease's develop and test abstracts."""

    develop: frozenset[str]
    test: frozenset[str]
    test_file: Path | None  # the NCBItestset file read, or None where the folder has none

    @property
    def all(self) -> frozenset[str]:
        """Return develop's and test's PMIDs together."""
        return self.develop | self.test


def held_out_documents(ncbi_folder: str | Path) -> HeldOutDocuments:
    """Return the PMIDs of NCBI-disease's develop and test files under ``ncbi_folder`` (chapter 14).

    Another corpus shares abstracts with NCBI-disease (BioRED Train holds one of its test abstracts and one of
    its develop abstracts), so every extra training set leaves all of these out (:func:`biored_training_rows`).
    The ``ncbi_disease`` manifest fetches the test file; a folder without one (the course's validation copy holds
    train and develop only) gives ``test_file=None`` and an empty ``test``, which the benchmarks record.
    """
    folder = Path(ncbi_folder)
    develop = sorted(folder.glob("**/NCBIdevelopset*.txt"))
    if not develop:
        raise LinkingDataError(f"No NCBIdevelopset*.txt under {folder}; run `python -m course_utils.data fetch "
                               "ncbi_disease` or point COURSE_REAL_DATA at the data.")
    test = sorted(folder.glob("**/NCBItestset*.txt"))

    def pmids(path: Path) -> frozenset[str]:
        return frozenset(re.findall(r"^(\d+)\|t\|", path.read_text(encoding="utf-8"), flags=re.M))

    return HeldOutDocuments(pmids(develop[0]), pmids(test[0]) if test else frozenset(), test[0] if test else None)


def biored_training_rows(biored_folder: str | Path, ncbi_folder: str | Path, *, also_exclude: Iterable[str] = ()
                         ) -> tuple[list[tuple[str, str]], HeldOutDocuments]:
    """Return BioRED Train + Dev disease rows for training or a dictionary, with NCBI-disease's develop and test
    abstracts (and ``also_exclude``, e.g. a fold's query documents) left out, and what was held out (chapter 14)."""
    held = held_out_documents(ncbi_folder)
    folder = Path(biored_folder)
    files = [folder / "Train.PubTator", folder / "Dev.PubTator"]
    rows = biored_disease_rows(files, exclude_documents=held.all | set(also_exclude))
    return rows, held


def extended_training_rows(rows: Sequence[tuple[str, str]], *, other_forms: Sequence[tuple[str, str]] = (),
                           extra: Sequence[tuple[str, str]] = (), vocabulary: Vocabulary | None = None
                           ) -> list[tuple[str, str]]:
    """Return self-alignment rows (chapter 14): ``rows``; then the ``other_forms`` rows not already among them
    (the same training mentions in their other surface form, e.g. abbreviations expanded); then ``extra`` rows
    (another corpus's mentions, e.g. :func:`biored_disease_rows`) and, with ``vocabulary``, the vocabulary names
    of every extra id that the rows before lack, so that each new concept has its dictionary name to align to."""
    out = list(rows)
    have = set(out)
    out += [r for r in dict.fromkeys(other_forms) if r not in have]
    if extra:
        known = {c for _, c in out}
        new_ids = {c for _, c in extra} - known
        out += list(extra)
        if vocabulary is not None:
            out += [(n, c) for n, c in zip(vocabulary.names, vocabulary.ids) if c in new_ids]
    return out


def linking_task(settings: Any) -> LinkingTask:
    """Return the task of the active profile (chapter 14): synthetic concepts in smoke, NCBI-disease develop
    against the MeSH/OMIM vocabulary (fetched by manifest) in lab and full."""
    dataset = settings.dataset
    seed = int(getattr(settings, "seed", 1234))
    if dataset == "synthetic":
        data = synthetic_linking(seed=seed)
        vocab = data.vocabulary()
        return LinkingTask("synthetic concepts", vocab, vocab, data.train_pairs,
                           tuple(m for m, _, _ in data.test_mentions), tuple((c,) for _, c, _ in data.test_mentions),
                           tuple(k for _, _, k in data.test_mentions),
                           f"{len(data.test_mentions)} mentions of {len(data.test_ids)} concepts held out of "
                           f"training; dictionary of {len(vocab)} preferred names")
    from ...data import require_dataset

    corpus = require_dataset(dataset)
    vocab_folder = require_dataset(settings.ontology)

    def one(pattern: str) -> Path:
        found = sorted(corpus.glob(pattern))
        if not found:
            raise LinkingDataError(f"No file {pattern} under {corpus}; run `python -m course_utils.data fetch {dataset}`.")
        return found[0]

    return ncbi_task(one("**/NCBItrainset*.txt"), one("**/NCBIdevelopset*.txt"), vocab_folder)
