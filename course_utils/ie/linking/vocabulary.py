"""Entity-linking records: mentions, concepts, the disease vocabulary, ids and names, and the NCBI-disease and
vocabulary readers (chapter 14).

* **ids** -- a mention's id field holds one id, or several joined by ``|`` or ``+`` (a composite mention such as
  "breast and ovarian cancer", or alternative ids). Ids are stripped of stray spaces (the corpus has a few:
  ``"OMIM:106210 "``) and those are counted, never fatal. MeSH ids stay as they are (``D012878``, ``C565176``);
  OMIM numbers are written ``OMIM:nnnnnn`` in both the corpus and the vocabulary.
* **names** -- :func:`normalize_name` lower-cases, turns every character that is not a letter or digit into a
  space and collapses spaces: "Colon-Cancers," and "colon cancers" become the same key. This is the rule the
  exact-match baseline and the dictionary use.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

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
