"""BioRED and LitCoin documents: one document model, checked readers, writers and candidate pairs (chapter 13).

A :class:`BioDocument` is a PubMed title + abstract (``text`` is ``title + " " + abstract``, the frame every offset
indexes), its entity mentions (character offsets, type, one or more ids) and its relations (two entity ids, a
relation type, novel or not). Two readers fill it:

* :func:`read_pubtator` reads BioRED's PubTator files (``pmid|t|title``, ``pmid|a|abstract``, six-column mention
  lines, five-column relation lines, a blank line between documents);
* :func:`read_litcoin` reads the LitCoin NLP Challenge files (tab-separated despite ``.csv``).

Both check every offset against the text, every mention against its slice, every relation id against the ids
the document's mentions carry, and every entity type, relation type and novelty value against the allowed sets
(BioRED's by default, a parameter for other corpora): a misspelt label is an error naming file, line, document
and the allowed values, never a new class. A file with no document is an error too. Every problem names file
and line. Id lists are split on ``id_separators``, a
parameter of each reader (BioRED variant ids such as ``c|INS|5382|C`` contain ``|``, LitCoin lists use ``,``),
never one global rule.

A document's candidate pairs (:func:`candidate_pairs`) are every unordered pair of its entity ids; the relation
scores over them live in :mod:`course_utils.ie.biored.scoring`.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from course_utils.errors import CourseError

__all__ = [
    "NO_RELATION",
    "ENTITY_TYPES",
    "RELATION_TYPES",
    "NOVELTY_VALUES",
    "BioREDFormatError",
    "Problem",
    "EntityMention",
    "Relation",
    "BioDocument",
    "ReadResult",
    "read_pubtator",
    "write_pubtator",
    "check_output",
    "read_litcoin",
    "write_litcoin_submission",
    "corpus_counts",
    "Overlap",
    "litcoin_biored_overlap",
    "candidate_pairs",
]

NO_RELATION = "None"
ENTITY_TYPES = ("GeneOrGeneProduct", "DiseaseOrPhenotypicFeature", "ChemicalEntity", "SequenceVariant",
                "OrganismTaxon", "CellLine")
RELATION_TYPES = ("Association", "Positive_Correlation", "Negative_Correlation", "Bind", "Cotreatment",
                  "Comparison", "Drug_Interaction", "Conversion")
NOVELTY_VALUES = ("Novel", "No")
"""The novelty labels of BioRED and LitCoin (read case-insensitively); a relation line without one has novelty None."""


class BioREDFormatError(CourseError, ValueError):
    """A PubTator or LitCoin file that does not follow its format (chapter 13); lists file and line of each problem."""


@dataclass(frozen=True)
class Problem:
    """One problem found by a reader: file, 1-based line, document id and what is wrong (chapter 13)."""

    file: str
    line: int
    doc_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} (document {self.doc_id}): {self.message}"


@dataclass(frozen=True)
class EntityMention:
    """A mention: ``text[start:end]``, its type and its entity ids (several for a composite mention) (chapter 13)."""

    start: int
    end: int
    text: str
    type: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Relation:
    """A relation between two entity ids of one document, its type and novelty (None when unknown) (chapter 13)."""

    type: str
    id1: str
    id2: str
    novel: bool | None = None

    @property
    def pair(self) -> tuple[str, str]:
        """Return the two ids sorted: BioRED relations are undirected (chapter 13)."""
        return (self.id1, self.id2) if self.id1 <= self.id2 else (self.id2, self.id1)


@dataclass(frozen=True)
class BioDocument:
    """A title + abstract with its mentions and relations; ``text`` is ``title + " " + abstract`` (chapter 13)."""

    doc_id: str
    title: str
    abstract: str
    mentions: tuple[EntityMention, ...] = ()
    relations: tuple[Relation, ...] = ()

    @property
    def text(self) -> str:
        """Return title + " " + abstract, the text every offset indexes (chapter 13)."""
        return f"{self.title} {self.abstract}"

    def entity_types(self) -> dict[str, str]:
        """Return each entity id's type (the most frequent among its mentions, ties by first seen) (chapter 13)."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for mention in self.mentions:
            for entity_id in mention.ids:
                counts[entity_id][mention.type] += 1
        return {entity_id: c.most_common(1)[0][0] for entity_id, c in counts.items()}


@dataclass(frozen=True)
class ReadResult:
    """What a reader returns: the documents and every problem it found (empty when the file is clean) (chapter 13)."""

    documents: tuple[BioDocument, ...]
    problems: tuple[Problem, ...] = field(default=())

    def by_id(self) -> dict[str, BioDocument]:
        """Return the documents keyed by document id (chapter 13)."""
        return {d.doc_id: d for d in self.documents}


def _split_ids(value: str, separators: str) -> tuple[str, ...]:
    parts = [value]
    for sep in separators:
        parts = [piece for part in parts for piece in part.split(sep)]
    ids = tuple(dict.fromkeys(p.strip() for p in parts if p.strip() and p.strip() != "-"))
    return ids


def _check_mention(text: str, start: int, end: int, mention: str, where: tuple[str, int, str],
                   problems: list[Problem]) -> bool:
    file, line, doc_id = where
    if not 0 <= start < end:
        problems.append(Problem(file, line, doc_id, f"offsets {start}-{end} are not 0 <= start < end"))
        return False
    if end > len(text):
        problems.append(Problem(file, line, doc_id, f"offset {end} is past the text ({len(text)} characters); "
                                                    "offsets index title + ' ' + abstract"))
        return False
    if text[start:end] != mention:
        problems.append(Problem(file, line, doc_id, f"mention {mention!r} differs from the text slice "
                                                    f"{start}-{end} {text[start:end]!r}"))
        return False
    return True


def _check_relations(doc: BioDocument, relation_lines: Sequence[int], file: str, problems: list[Problem]) -> None:
    known = set(doc.entity_types())
    for relation, line in zip(doc.relations, relation_lines, strict=True):
        for entity_id in (relation.id1, relation.id2):
            if entity_id not in known:
                problems.append(Problem(file, line, doc.doc_id,
                                        f"relation {relation.type} names id {entity_id!r} that no mention carries"))


_UNSET = object()


def _novel(value: str) -> object:
    """Return True / False for a BioRED novelty label, ``_UNSET`` for any other value."""
    value = value.strip().lower()
    if value == "novel":
        return True
    if value == "no":
        return False
    return _UNSET


def _label_problem(kind: str, value: str, allowed: Sequence[str] | None, where: tuple[str, int, str]
                   ) -> Problem | None:
    """Return a problem when ``value`` is not one of ``allowed`` (``None``: any value is accepted)."""
    if allowed is None or value in allowed:
        return None
    file, line, doc_id = where
    return Problem(file, line, doc_id, f"{kind} {value!r} is not one of {', '.join(allowed)}; fix the spelling "
                                       f"(or pass the allowed {kind}s of another corpus to the reader)")


def _relation(cols: Sequence[str], novelty: str | None, relation_types: Sequence[str] | None,
              where: tuple[str, int, str], problems: list[Problem]) -> Relation | None:
    """Return the relation (type, id1, id2) of a checked line, or None after noting its problems (chapter 13)."""
    found = [_label_problem("relation type", cols[0], relation_types, where)]
    novel: object = None
    if novelty is not None:
        novel = _novel(novelty)
        if novel is _UNSET:
            file, line, doc_id = where
            found.append(Problem(file, line, doc_id, f"novelty {novelty!r} is not one of "
                                                     f"{', '.join(NOVELTY_VALUES)} (any case)"))
    found = [f for f in found if f is not None]
    if found:
        problems.extend(found)
        return None
    return Relation(cols[0], cols[1].strip(), cols[2].strip(), novel)  # type: ignore[arg-type]


def _finish(documents: list[BioDocument], problems: list[Problem], strict: bool, path: Path) -> ReadResult:
    if not documents and not problems:
        problems.append(Problem(str(path), 1, "-", "no document in the file (is it empty, or the wrong file?); "
                                                    "give a file with at least one title line"))
    if strict and problems:
        shown = "\n  ".join(str(p) for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise BioREDFormatError(f"{len(problems)} problem(s) in {path}:\n  {shown}{more}\n"
                                "Fix the file, or read it with strict=False to get the problems as a list.")
    return ReadResult(tuple(documents), tuple(problems))


def read_pubtator(path: str | os.PathLike[str], *, id_separators: str = ",", strict: bool = True,
                  entity_types: Sequence[str] | None = ENTITY_TYPES,
                  relation_types: Sequence[str] | None = RELATION_TYPES) -> ReadResult:
    """Return the documents of a PubTator file and the problems found, checked line by line (chapter 13).

    ``id_separators`` splits a mention's id list (BioRED: ``,``; its variant ids contain ``|`` and ``;`` is kept
    inside them). ``entity_types`` and ``relation_types`` are the allowed labels (BioRED's by default; ``None``
    accepts any); novelty must be one of :data:`NOVELTY_VALUES`. With ``strict`` (default) any problem raises
    :class:`BioREDFormatError` naming file and line; with ``strict=False`` the bad lines are skipped and returned
    in ``problems``. A missing file raises :class:`BioREDFormatError` too.
    """
    path = _existing(path)
    name = str(path)
    documents: list[BioDocument] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    current: dict | None = None

    def close() -> None:
        nonlocal current
        if current is None:
            return
        doc = BioDocument(current["id"], current["title"], current["abstract"], tuple(current["mentions"]),
                          tuple(current["relations"]))
        _check_relations(doc, current["relation_lines"], name, problems)
        if current["id"] in seen:
            problems.append(Problem(name, current["line"], current["id"], "document id appears twice"))
        seen.add(current["id"])
        documents.append(doc)
        current = None

    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise BioREDFormatError(f"{path} is not UTF-8 text (byte {exc.start}); give a PubTator file") from None
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\n").rstrip("\r")
        if not line.strip():
            close()
            continue
        head = line.split("|", 2)
        if len(head) == 3 and head[1] in {"t", "a"} and "\t" not in head[0]:
            doc_id, kind, body = head
            if kind == "t":
                close()
                current = {"id": doc_id, "title": body, "abstract": "", "mentions": [], "relations": [],
                           "relation_lines": [], "line": number}
            elif current is None or current["id"] != doc_id:
                problems.append(Problem(name, number, doc_id, "abstract line without its title line"))
            else:
                current["abstract"] = body
            continue
        cols = line.split("\t")
        doc_id = cols[0]
        if current is None or doc_id != current["id"]:
            problems.append(Problem(name, number, doc_id, "annotation line outside its document "
                                    "(no title line with this id before it)"))
            continue
        text = f"{current['title']} {current['abstract']}"
        if len(cols) == 6:
            try:
                start, end = int(cols[1]), int(cols[2])
            except ValueError:
                problems.append(Problem(name, number, doc_id, f"offsets {cols[1]!r}, {cols[2]!r} are not integers"))
                continue
            bad = _label_problem("entity type", cols[4], entity_types, (name, number, doc_id))
            if bad is not None:
                problems.append(bad)
            elif _check_mention(text, start, end, cols[3], (name, number, doc_id), problems):
                ids = _split_ids(cols[5], id_separators)
                current["mentions"].append(EntityMention(start, end, cols[3], cols[4], ids))
        elif len(cols) in (4, 5) and cols[1].strip().isdigit():
            problems.append(Problem(name, number, doc_id, f"{len(cols)} tab-separated columns in a mention line "
                                    "(its second column is an offset); expected 6: pmid, start, end, mention, "
                                    "type, ids"))
        elif len(cols) in (4, 5):
            relation = _relation(cols[1:4], cols[4] if len(cols) == 5 else None, relation_types,
                                 (name, number, doc_id), problems)
            if relation is not None:
                current["relations"].append(relation)
                current["relation_lines"].append(number)
        else:
            problems.append(Problem(name, number, doc_id, f"{len(cols)} tab-separated columns; expected 6 "
                                    "(mention) or 5 (relation)"))
    close()
    return _finish(documents, problems, strict, path)


def _existing(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path, or raise :class:`BioREDFormatError` when it is not a file (chapter 13)."""
    path = Path(path)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not found"
        raise BioREDFormatError(f"{path}: {what}; give the path of a PubTator file or of a LitCoin .csv file")
    return path


def check_output(path: str | os.PathLike[str], *, folder: bool = False, option: str = "--out") -> Path:
    """Return ``path`` after checking, before any work, that a command can write it (chapter 13's commands).

    A file output must not be an existing folder, a folder output not an existing file, and the parent must be
    (or become) a writable folder; otherwise :class:`BioREDFormatError` names the option, the path and the fix.
    Outputs themselves are written to a temporary sibling and renamed, so a failed run leaves nothing behind.
    """
    from course_utils.paths import ensure_writable_dir

    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise BioREDFormatError(f"{option} {path} is a file; give a folder name for the model (it is replaced "
                                "when training finishes)")
    if not folder and path.is_dir():
        raise BioREDFormatError(f"{option} {path} is a folder; give a file name such as {path / 'pred.PubTator'}")
    ensure_writable_dir(path.parent if str(path.parent) else Path("."), f"{option} output")
    return path


def _atomic_write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_pubtator(documents: Iterable[BioDocument], path: str | os.PathLike[str], *,
                   id_separator: str = ",") -> Path:
    """Return the path of a PubTator file written from ``documents`` (atomic; readable by read_pubtator) (chapter 13)."""
    blocks = []
    for doc in documents:
        lines = [f"{doc.doc_id}|t|{doc.title}", f"{doc.doc_id}|a|{doc.abstract}"]
        for m in sorted(doc.mentions, key=lambda m: (m.start, m.end)):
            lines.append("\t".join([doc.doc_id, str(m.start), str(m.end), m.text, m.type, id_separator.join(m.ids)]))
        for r in doc.relations:
            cols = [doc.doc_id, r.type, r.id1, r.id2]
            if r.novel is not None:
                cols.append("Novel" if r.novel else "No")
            lines.append("\t".join(cols))
        blocks.append("\n".join(lines) + "\n")
    return _atomic_write(Path(path), "\n".join(blocks) + ("\n" if blocks else ""))


def _read_tsv(path: Path, expected: Sequence[str], problems: list[Problem]) -> list[tuple[int, dict[str, str]]]:
    rows: list[tuple[int, dict[str, str]]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")  # fields holding a double quote are quoted CSV-style
        try:
            header = next(reader, None)
        except UnicodeDecodeError as exc:
            raise BioREDFormatError(f"{path} is not UTF-8 text (byte {exc.start}); give a LitCoin .csv file "
                                    "(tab-separated)") from None
        if header is None or [h.strip() for h in header] != list(expected):
            problems.append(Problem(str(path), 1, "-", f"header {header} is not {list(expected)}"))
            return rows
        for values in reader:
            number = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(expected):
                doc = values[expected.index("abstract_id")] if "abstract_id" in expected and len(values) > 1 else "-"
                problems.append(Problem(str(path), number, doc, f"{len(values)} tab-separated columns; expected "
                                        f"{len(expected)} ({', '.join(expected)})"))
                continue
            rows.append((number, dict(zip(expected, values, strict=True))))
    return rows


def read_litcoin(abstracts: str | os.PathLike[str], entities: str | os.PathLike[str] | None = None,
                 relations: str | os.PathLike[str] | None = None, *, id_separators: str = ",;",
                 strict: bool = True, entity_types: Sequence[str] | None = ENTITY_TYPES,
                 relation_types: Sequence[str] | None = RELATION_TYPES) -> ReadResult:
    """Return LitCoin documents (abstracts + optional entities and relations files) and their problems (chapter 13).

    The files are tab-separated despite ``.csv``. Entity offsets index ``title + " " + abstract``; an entity's
    ``entity_ids`` list is split on ``id_separators`` (default ``,`` and ``;``). ``strict``, ``entity_types``
    and ``relation_types`` as in :func:`read_pubtator`; novelty must be one of :data:`NOVELTY_VALUES`.
    """
    problems: list[Problem] = []
    apath = _existing(abstracts)
    for other in (entities, relations):
        if other is not None:
            _existing(other)
    docs: dict[str, dict] = {}
    for number, row in _read_tsv(apath, ("abstract_id", "title", "abstract"), problems):
        doc_id = row["abstract_id"].strip()
        if doc_id in docs:
            problems.append(Problem(str(apath), number, doc_id, "abstract id appears twice"))
            continue
        docs[doc_id] = {"title": row["title"], "abstract": row["abstract"], "mentions": [], "relations": [],
                        "relation_lines": []}
    if entities is not None:
        epath = Path(entities)
        cols = ("id", "abstract_id", "offset_start", "offset_finish", "type", "mention", "entity_ids")
        for number, row in _read_tsv(epath, cols, problems):
            doc_id = row["abstract_id"].strip()
            if doc_id not in docs:
                problems.append(Problem(str(epath), number, doc_id, "entity of an abstract id not in the abstracts file"))
                continue
            d = docs[doc_id]
            try:
                start, end = int(row["offset_start"]), int(row["offset_finish"])
            except ValueError:
                problems.append(Problem(str(epath), number, doc_id, "offsets are not integers"))
                continue
            bad = _label_problem("entity type", row["type"], entity_types, (str(epath), number, doc_id))
            if bad is not None:
                problems.append(bad)
            elif _check_mention(f"{d['title']} {d['abstract']}", start, end, row["mention"],
                                (str(epath), number, doc_id), problems):
                d["mentions"].append(EntityMention(start, end, row["mention"], row["type"],
                                                   _split_ids(row["entity_ids"], id_separators)))
    rpath = Path(relations) if relations is not None else None
    if rpath is not None:
        cols = ("id", "abstract_id", "type", "entity_1_id", "entity_2_id", "novel")
        for number, row in _read_tsv(rpath, cols, problems):
            doc_id = row["abstract_id"].strip()
            if doc_id not in docs:
                problems.append(Problem(str(rpath), number, doc_id, "relation of an abstract id not in the abstracts file"))
                continue
            relation = _relation((row["type"], row["entity_1_id"], row["entity_2_id"]), row["novel"],
                                 relation_types, (str(rpath), number, doc_id), problems)
            if relation is not None:
                docs[doc_id]["relations"].append(relation)
                docs[doc_id]["relation_lines"].append(number)
    documents = []
    for doc_id, d in docs.items():
        doc = BioDocument(doc_id, d["title"], d["abstract"], tuple(d["mentions"]), tuple(d["relations"]))
        if rpath is not None and entities is not None:
            _check_relations(doc, d["relation_lines"], str(rpath), problems)
        documents.append(doc)
    return _finish(documents, problems, strict, apath)


def write_litcoin_submission(documents: Iterable[BioDocument], path: str | os.PathLike[str]) -> Path:
    """Return the path of a LitCoin entity submission (id, abstract_id, offset_start, offset_finish, type) (chapter 13).

    As in ``submission_example.csv``: tab-separated, one row per mention, ``id`` restarting at 0 in each abstract.
    """
    lines = ["id\tabstract_id\toffset_start\toffset_finish\ttype"]
    for doc in documents:
        for i, m in enumerate(sorted(doc.mentions, key=lambda m: (m.start, m.end))):
            lines.append(f"{i}\t{doc.doc_id}\t{m.start}\t{m.end}\t{m.type}")
    return _atomic_write(Path(path), "\n".join(lines) + "\n")


def corpus_counts(documents: Sequence[BioDocument]) -> dict[str, int]:
    """Return documents, mentions, relations, novel relations and candidate pairs of a corpus (chapter 13)."""
    return {
        "documents": len(documents),
        "mentions": sum(len(d.mentions) for d in documents),
        "relations": sum(len(d.relations) for d in documents),
        "novel": sum(1 for d in documents for r in d.relations if r.novel),
        "candidate_pairs": sum(len(candidate_pairs(d)) for d in documents),
    }


@dataclass(frozen=True)
class Overlap:
    """LitCoin abstracts found in BioRED Train + Dev: all, of LitCoin train, of LitCoin test, LitCoin train in Dev."""

    found: int
    train_found: int
    test_found: int
    train_in_dev: int


def litcoin_biored_overlap(litcoin_train: Iterable[str], litcoin_test: Iterable[str], biored_train: Iterable[str],
                           biored_dev: Iterable[str]) -> Overlap:
    """Return how many LitCoin abstract ids (PMIDs) are BioRED Train or Dev documents (chapter 13; 413/330/83/66)."""
    lt, ls = set(litcoin_train), set(litcoin_test)
    bt, bd = set(biored_train), set(biored_dev)
    both = bt | bd
    return Overlap(found=len((lt | ls) & both), train_found=len(lt & both), test_found=len(ls & both),
                   train_in_dev=len(lt & bd))


def candidate_pairs(doc: BioDocument) -> list[tuple[str, str]]:
    """Return every unordered pair of distinct entity ids of a document, sorted: n ids give n(n-1)/2 (chapter 13)."""
    return list(combinations(sorted(doc.entity_types()), 2))
