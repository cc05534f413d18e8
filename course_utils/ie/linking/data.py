"""Entity-linking data: NCBI-disease mentions, the disease vocabulary, ids, abbreviations, composites (chapter 14).

Everything here turns files into plain records and states its rules, so that the linking chapter can score
them without hidden choices:

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

import csv
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CourseError

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

_MESH_PREFIXED = re.compile(r"^MESH:([DC]\d{6,9})$", re.IGNORECASE)
_ID_FORMS = (re.compile(r"^[DC]\d{6,9}$"), re.compile(r"^OMIM:\d{6}(\.\d{4})?$"), re.compile(r"^[A-Z]{2,5}:\w+$"))


class LinkingDataError(CourseError, ValueError):
    """A linking file or id is malformed (the message names file, line and what to do)."""


@dataclass(frozen=True)
class Mention:
    """One annotated mention: document, offsets, surface text, type, gold id groups and the raw id field."""

    doc_id: str
    start: int
    end: int
    text: str
    type: str
    ids: tuple[str, ...]  # every id of the field, stripped, in order (``|`` and ``+`` both split)
    raw_ids: str
    composite: bool  # more than one id: a composite mention or alternative ids


@dataclass(frozen=True)
class Concept:
    """A concept of the dictionary: id and its names (the first is the preferred one)."""

    id: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """A dictionary of (name, concept id) pairs, one row each, with where each came from."""

    names: tuple[str, ...]
    ids: tuple[str, ...]
    sources: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.names)

    @property
    def concepts(self) -> dict[str, list[str]]:
        """Return ``{id: [names]}``."""
        out: dict[str, list[str]] = {}
        for name, cid in zip(self.names, self.ids):
            out.setdefault(cid, []).append(name)
        return out

    def extended(self, names: Iterable[str], ids: Iterable[str], source: str, *, first: bool = False) -> Vocabulary:
        """Return this vocabulary plus the given (name, id) rows, duplicates (same normalised name and id) dropped.

        ``first=True`` puts the new rows before the existing ones: linkers break score ties by dictionary order,
        so an identical name with two ids then resolves to the new rows' id.
        """
        old_sources = list(self.sources) if self.sources else ["vocabulary"] * len(self.names)
        rows = list(zip(self.names, self.ids, old_sources))
        seen = {(normalize_name(n), i) for n, i, _ in rows}
        added = []
        for name, cid in zip(names, ids):
            key = (normalize_name(name), cid)
            if key in seen or not key[0]:
                continue
            seen.add(key)
            added.append((name, cid, source))
        rows = added + rows if first else rows + added
        return Vocabulary(tuple(r[0] for r in rows), tuple(r[1] for r in rows), tuple(r[2] for r in rows))


def normalize_name(text: str) -> str:
    """Return ``text`` lower-cased, non-alphanumerics as spaces, spaces collapsed (chapter 14's name key)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(re.sub(r"[^0-9a-z\u00c0-\u024f]+", " ", text).split())


def parse_ids(field_value: str, *, where: str = "") -> tuple[tuple[str, ...], int]:
    """Return ``(ids, n_stripped)``: the ids of an id field split on ``|`` and ``+``, and how many carried stray
    spaces (chapter 14). ``MESH:D051437`` (CTD's spelling) becomes ``D051437`` (the corpus's), a bare six-digit
    number ``OMIM:nnnnnn``. An id in no known format raises :class:`LinkingDataError` naming ``where``."""
    parts = [p for p in re.split(r"[|+]", field_value)]
    ids: list[str] = []
    stripped = 0
    for part in parts:
        clean = part.strip()
        if clean != part:
            stripped += 1
        if not clean:
            raise LinkingDataError(f"{where}: empty id in {field_value!r}; ids are joined by '|' or '+'.")
        if clean.isdigit() and len(clean) == 6:  # a bare OMIM number (some releases omit the prefix)
            clean = f"OMIM:{clean}"
        mesh = _MESH_PREFIXED.match(clean)
        if mesh:  # CTD's MEDIC writes MESH:D051437; the corpus writes D051437: one id, one spelling
            clean = mesh.group(1)
        if not any(form.match(clean) for form in _ID_FORMS):
            raise LinkingDataError(
                f"{where}: id {clean!r} is in no known format (MeSH D/C + digits, OMIM:nnnnnn, or PREFIX:id). "
                "Fix the file or map the id first.")
        ids.append(clean)
    return tuple(ids), stripped


def read_ncbi_disease(path: str | Path) -> tuple[dict[str, str], list[Mention], int]:
    """Return ``(texts, mentions, n_stripped_ids)`` of an NCBI-disease file (chapter 14).

    ``texts`` maps PMID to title + " " + abstract (the offsets index that string). Each mention's text is
    checked against its slice; a mismatch, a short line or a bad offset raises :class:`LinkingDataError` with
    the file and line number.
    """
    path = Path(path)
    if not path.is_file():
        raise LinkingDataError(f"{path} does not exist; pass an NCBI-disease file (e.g. NCBItrainset.txt).")
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise LinkingDataError(f"{path} is not a text file (it contains NUL bytes).")
    titles: dict[str, str] = {}
    abstracts: dict[str, str] = {}
    rows: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        m = re.match(r"^(\d+)\|([ta])\|(.*)$", line)
        if m:
            (titles if m.group(2) == "t" else abstracts)[m.group(1)] = m.group(3)
            continue
        cols = line.split("\t")
        if len(cols) != 6:
            raise LinkingDataError(f"{path}:{lineno}: expected 6 tab-separated columns (pmid, start, end, text, "
                                   f"type, ids), found {len(cols)}.")
        rows.append((lineno, cols))
    texts = {pmid: f"{titles.get(pmid, '')} {abstracts.get(pmid, '')}" for pmid in titles.keys() | abstracts.keys()}
    mentions: list[Mention] = []
    stripped_total = 0
    for lineno, (pmid, start, end, text, kind, id_field) in rows:
        where = f"{path}:{lineno}"
        if pmid not in texts:
            raise LinkingDataError(f"{where}: mention of document {pmid}, which has no |t| or |a| line.")
        try:
            s, e = int(start), int(end)
        except ValueError:
            raise LinkingDataError(f"{where}: offsets {start!r}, {end!r} are not integers.") from None
        doc = texts[pmid]
        if not 0 <= s < e <= len(doc):
            raise LinkingDataError(f"{where}: offsets {s}-{e} fall outside document {pmid} ({len(doc)} characters).")
        if doc[s:e] != text.strip():  # a few mention fields carry trailing spaces beyond their offsets
            raise LinkingDataError(f"{where}: mention {text!r} differs from the text at {s}-{e}, {doc[s:e]!r}.")
        ids, stripped = parse_ids(id_field, where=where)
        stripped_total += stripped
        mentions.append(Mention(pmid, s, e, doc[s:e], kind, ids, id_field, len(ids) > 1))
    return texts, mentions, stripped_total


def read_disease_vocab(folder: str | Path) -> Vocabulary:
    """Return the disease vocabulary of ``folder``: MeSH descriptors (C and F trees), supplementary concepts and
    OMIM names, one row per distinct (name, id) (chapter 14).

    Files: ``mesh_descriptors_c_f_tree.tsv`` (MESH_ID, MESH_NAME, ...), ``mesh_scr.tsv`` (MESH_SCR_ID,
    MESH_SCR_NAME, MESH_ID) and ``omim.tsv`` (OMIM_ID, OMIM_NAME).
    """
    folder = Path(folder)
    specs = (("mesh_descriptors_c_f_tree.tsv", "MESH_ID", "MESH_NAME", "", "mesh"),
             ("mesh_scr.tsv", "MESH_SCR_ID", "MESH_SCR_NAME", "", "mesh_scr"),
             ("omim.tsv", "OMIM_ID", "OMIM_NAME", "OMIM:", "omim"))
    names: list[str] = []
    ids: list[str] = []
    sources: list[str] = []
    seen: set[tuple[str, str]] = set()
    for filename, id_col, name_col, prefix, source in specs:
        path = folder / filename
        if not path.is_file():
            raise LinkingDataError(f"{path} is missing: the vocabulary folder needs {', '.join(s[0] for s in specs)}.")
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            missing = {id_col, name_col} - set(reader.fieldnames or ())
            if missing:
                raise LinkingDataError(f"{path}:1: header lacks {sorted(missing)}; found {reader.fieldnames}.")
            for lineno, row in enumerate(reader, 2):
                cid, name = (row[id_col] or "").strip(), (row[name_col] or "").strip()
                if not cid or not name:
                    raise LinkingDataError(f"{path}:{lineno}: empty id or name.")
                cid = prefix + cid
                if (name, cid) in seen:
                    continue
                seen.add((name, cid))
                names.append(name)
                ids.append(cid)
                sources.append(source)
    if not names:
        raise LinkingDataError(f"{folder}: the vocabulary is empty.")
    return Vocabulary(tuple(names), tuple(ids), tuple(sources))


@dataclass(frozen=True)
class IdReport:
    """How a set of mentions' ids relate to a vocabulary: coverage and id shapes (chapter 14)."""

    n_mentions: int
    n_composite: int
    n_covered_all: int  # every id of the mention is in the vocabulary
    n_covered_any: int
    n_stripped: int


def id_report(mentions: Sequence[Mention], vocabulary: Vocabulary, n_stripped: int = 0) -> IdReport:
    """Return coverage of ``mentions``' ids by ``vocabulary`` (all ids of a mention, and any of them)."""
    known = set(vocabulary.ids)
    all_cov = sum(all(i in known for i in m.ids) for m in mentions)
    any_cov = sum(any(i in known for i in m.ids) for m in mentions)
    return IdReport(len(mentions), sum(m.composite for m in mentions), all_cov, any_cov, n_stripped)


# ------------------------------------------------------------------------------------------------------------
# Abbreviations (Schwartz and Hearst 2003) and composite mentions.


def _best_long_form(short: str, candidate: str) -> str | None:
    """Return the shortest suffix of ``candidate`` that matches ``short`` by the Schwartz-Hearst rule, or None."""
    s_idx, l_idx = len(short) - 1, len(candidate) - 1
    while s_idx >= 0:
        ch = short[s_idx].lower()
        if not ch.isalnum():
            s_idx -= 1
            continue
        while l_idx >= 0 and (candidate[l_idx].lower() != ch or (s_idx == 0 and l_idx > 0 and candidate[l_idx - 1].isalnum())):
            l_idx -= 1
        if l_idx < 0:
            return None
        l_idx -= 1
        s_idx -= 1
    start = candidate.rfind(" ", 0, l_idx + 1) + 1
    return candidate[start:].strip()


def schwartz_hearst(text: str) -> dict[str, str]:
    """Return ``{short form: long form}`` for every "long form (SF)" definition in ``text`` (chapter 14).

    A short form is 2-10 characters inside parentheses, with at least one letter and starting with a letter or
    digit; as in the authors' implementation, a parenthesis that goes on after a semicolon or comma keeps only
    what comes before it ("Schwartz-Jampel syndrome (SJS; chondrodystrophic myotonia)" defines SJS). The long
    form is searched in at most ``min(len(SF) + 5, 2 * len(SF))`` words before the parenthesis and must contain
    the short form's characters in order, its first character starting a word.
    """
    found: dict[str, str] = {}
    for m in re.finditer(r"\(([^()]{2,200})\)", text):
        short = re.split(r"[;,]", m.group(1), maxsplit=1)[0].strip()
        if not 2 <= len(short) <= 10:
            continue
        if not (re.search(r"[A-Za-z]", short) and short[0].isalnum()) or " " in short.strip() and len(short.split()) > 2:
            continue
        before = text[:m.start()].rstrip()
        cut = max(before.rfind(". "), before.rfind("; "), before.rfind("("))
        words = before[cut + 1:].split()
        limit = min(len(short) + 5, 2 * len(short))
        candidate = " ".join(words[-limit:])
        if not candidate:
            continue
        long_form = _best_long_form(short, candidate)
        if long_form and len(long_form) > len(short) and short.lower() not in long_form.lower().split():
            found.setdefault(short, long_form)
    return found


def expand_abbreviations(mention: str, abbreviations: dict[str, str]) -> str:
    """Return ``mention`` with every whole-word short form of ``abbreviations`` replaced by its long form.

    A mention that holds the definition itself ("glucose-6-phosphate dehydrogenase (G6PD) deficiency") loses
    the parenthesised short form instead of repeating the long form inside it.
    """
    if not abbreviations:
        return mention
    for short, long_form in abbreviations.items():
        if long_form.lower() in mention.lower():
            mention = re.sub(r"\s*\(\s*" + re.escape(short) + r"\s*\)", "", mention)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(abbreviations, key=len, reverse=True)) + r")(?![\w-])")
    return pattern.sub(lambda m: abbreviations[m.group(1)], mention)


_SHORT_FORM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,9}$")


def is_short_form(mention: str) -> bool:
    """True for a one-token mention of 2-10 characters with at least two capitals ("IDDM", "AO-GLD", "JT")."""
    return bool(_SHORT_FORM.match(mention)) and sum(ch.isupper() for ch in mention) >= 2


def document_abbreviations(mentions: Sequence[str], defined: dict[str, str] | None = None) -> dict[str, str]:
    """Return ``{short form: long form}`` for short forms of one document's mentions that its abstract never
    defines, read off the document's other mentions (chapter 14).

    An abstract often writes "IDDM" without ever writing "insulin-dependent diabetes mellitus (IDDM)", yet the
    long form is another mention of the same document. A multi-word mention is a long form of the short form
    when the Schwartz-Hearst character rule matches a suffix of it and the short form's last character falls
    in its last word ("GLD" in "adult onset globoid cell leukodystrophy" gives "globoid cell leukodystrophy";
    "JT" against "hyperparathyroidism and jaw tumor syndrome" gives nothing, since the T is not in
    "syndrome"). Of several long forms the shortest wins (then the first in text order). Short forms in
    ``defined`` (the abstract's own definitions) are left alone.
    """
    defined = defined or {}
    longs = list(dict.fromkeys(m.strip() for m in mentions if len(m.split()) > 1 and not is_short_form(m)))
    found: dict[str, str] = {}
    for short in dict.fromkeys(m.strip() for m in mentions):
        if not is_short_form(short) or short in defined:
            continue
        last = next((ch.lower() for ch in reversed(short) if ch.isalnum()), "")
        options = []
        for candidate in longs:
            long_form = _best_long_form(short, candidate)
            if (long_form and len(long_form.split()) > 1 and last in long_form.split()[-1].lower()
                    and "(" not in long_form and short.lower() not in normalize_name(long_form).split()):
                options.append(long_form)
        if options:
            found[short] = min(options, key=len)
    return found


_CITATION = re.compile(r"\b(?:OMIM|MIM|McKusick|McK)\s*(?:no\.?|number|#|:)?\s*[#*]?\s*(\d{3}),?\s?(\d{3})\b",
                       re.IGNORECASE)


def cited_omim_ids(text: str) -> set[str]:
    """Return the OMIM ids an abstract cites ("(OMIM 145001)", "McKusick no. 203500"), as ``OMIM:nnnnnn``.

    The corpus's tokenisation puts a space after a comma inside a number ("1, 250"), so "McK 255, 800" is
    read as 255800 too (chapter 14).
    """
    return {f"OMIM:{a}{b}" for a, b in _CITATION.findall(text)}


_CONJ = re.compile(r"\s*(?:,\s*(?:and|or)\s+|,\s*|\s+and/or\s+|\s+and\s+|\s+or\s+|\s*/\s*)", re.I)


def split_composite(mention: str) -> list[str]:
    """Return the parts of a composite mention, the shared head noun given to each (chapter 14).

    "breast and ovarian cancer" -> ["breast cancer", "ovarian cancer"]; "colon and some other cancers" ->
    ["colon cancers", "some other cancers"]; a mention without a conjunction is returned alone.
    """
    parts = [p.strip() for p in _CONJ.split(mention) if p and p.strip()]
    if len(parts) < 2:
        return [mention]
    last = parts[-1].split()
    if len(last) < 2:
        return parts
    head = last[-1]
    out = []
    for part in parts[:-1]:
        words = part.split()
        # a modifier alone ("breast", "colon") borrows the head; a full phrase keeps its own
        out.append(part if len(words) > 1 and words[-1].lower() == head.lower() else f"{part} {head}")
    out.append(parts[-1])
    return out


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
