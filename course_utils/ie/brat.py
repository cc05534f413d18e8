"""Brat standoff reader and writer, with the no-redistribution guard (chapter 12).

A brat document is a ``.txt`` file and an ``.ann`` file beside it. Only text-bound annotations (``T`` lines)
matter for NER::

    T3<TAB>Disease 1344 1345;1346 1350<TAB>mention

Offsets are Python string indices (characters, not bytes) into the ``.txt`` text; several ``start end``
fragments separated by ``;`` make a *discontinuous* entity, whose mention is the fragments joined by one space.
The reader checks every line and reports every problem (malformed line, offsets outside the text, mention
different from the text slice, duplicate id) with the file and line number instead of stopping at the first.

Some corpora must not be shown or copied (the Ruijin diabetes corpus has no stated licence). A folder is
*not redistributable* when it, or a folder above it, holds a file named ``NOT_REDISTRIBUTABLE`` or when its
name is one of :data:`NOT_REDISTRIBUTABLE_NAMES`; every document read from it carries
``redistributable=False`` and the display functions here refuse it (:class:`NotRedistributableError`).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CourseError

__all__ = [
    "BratError",
    "NotRedistributableError",
    "NOT_REDISTRIBUTABLE_NAMES",
    "read_text_exact",
    "MARKER_FILE",
    "Entity",
    "Problem",
    "BratDocument",
    "BratCorpus",
    "is_redistributable",
    "parse_ann",
    "read_document",
    "read_folder",
    "format_ann",
    "write_document",
    "show_entities",
    "list_problems",
    "corpus_counts",
    "leaked_text",
]

MARKER_FILE = "NOT_REDISTRIBUTABLE"
#: folder names that mark a corpus as not redistributable: the course's own and the archive's (outer and inner)
NOT_REDISTRIBUTABLE_NAMES: frozenset[str] = frozenset({"ruijin_diabetes", "ruijin", "ruijin_round1_train_20181022",
                                                       "ruijin_round1_train2_20181022"})

_T_LINE = re.compile(r"^(T\d+)\t(\S+) (\d+ \d+(?:;\d+ \d+)*)\t(.*)$", re.DOTALL)


class BratError(CourseError, ValueError):
    """A brat folder or file that cannot be read at all (chapter 12); single bad lines are :class:`Problem`."""


class NotRedistributableError(CourseError, PermissionError):
    """Text from a corpus marked not redistributable was about to be displayed or listed (chapter 12)."""


@dataclass(frozen=True)
class Entity:
    """One text-bound annotation: id, type, fragments ``((start, end), ...)``, mention, ``.ann`` line."""

    id: str
    type: str
    spans: tuple[tuple[int, int], ...]
    mention: str = ""
    line: int = 0

    @property
    def start(self) -> int:
        """Return the first character offset (chapter 12)."""
        return self.spans[0][0]

    @property
    def end(self) -> int:
        """Return the offset one past the last character (chapter 12)."""
        return self.spans[-1][1]

    @property
    def discontinuous(self) -> bool:
        """Return True when the entity has more than one fragment (chapter 12)."""
        return len(self.spans) > 1


@dataclass(frozen=True)
class Problem:
    """One problem found while reading: file, line (1-based, 0 = whole file), kind and message."""

    file: str
    line: int
    kind: str  # "malformed", "offsets", "mismatch", "duplicate-id", "missing-ann", "missing-txt", "other-line"
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class BratDocument:
    """A brat document: id (file stem), text, entities, where it came from and whether it may be shown."""

    doc_id: str
    text: str
    entities: tuple[Entity, ...]
    path: str = ""
    redistributable: bool = True
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class BratCorpus:
    """Documents of one brat folder (sorted by id), every problem found, and the redistribution flag."""

    root: str
    documents: tuple[BratDocument, ...]
    problems: tuple[Problem, ...] = ()
    redistributable: bool = True
    by_id: dict[str, BratDocument] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.by_id.update({d.doc_id: d for d in self.documents})

    def subset(self, ids: Iterable[str]) -> BratCorpus:
        """Return the corpus restricted to ``ids`` (in the given order); unknown ids raise (chapter 12)."""
        ids = list(ids)
        missing = [i for i in ids if i not in self.by_id]
        if missing:
            raise BratError(f"{len(missing)} document ids are not in {self.root} (first: {missing[:3]}); "
                            "check that the split file belongs to this folder.")
        return BratCorpus(self.root, tuple(self.by_id[i] for i in ids), (), self.redistributable)


def is_redistributable(path: str | os.PathLike[str]) -> bool:
    """Return False when ``path`` or a folder above it is marked not redistributable (chapter 12).

    Both the path as given (made absolute, links kept) and the path with its links resolved are checked, so a
    protected folder reached through a symbolic link, or a link named like a protected folder, stays protected.
    """
    given = Path(os.path.abspath(path))
    for p in (given, given.resolve()):
        for folder in [p, *p.parents] if p.is_dir() else list(p.parents):
            if folder.name.lower() in NOT_REDISTRIBUTABLE_NAMES or (folder / MARKER_FILE).exists():
                return False
    return True


def read_text_exact(path: str | os.PathLike[str]) -> str:
    """Return a UTF-8 text file exactly as stored: ``\\r\\n`` stays two characters, as brat offsets count them."""
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def _doc_key(stem: str) -> tuple[int, int | str]:
    return (0, int(stem)) if stem.isdigit() else (1, stem)


def parse_ann(ann: str, text: str, *, file: str = "<ann>") -> tuple[list[Entity], list[Problem]]:
    """Return the entities of an ``.ann`` string checked against ``text``, and every problem (chapter 12).

    Lines other than ``T`` lines (relations, events, notes) are skipped silently; ``#`` notes and blank
    lines too. A ``T`` line that does not parse, has offsets outside the text or reversed, or a mention that
    differs from the text slice becomes a :class:`Problem`; a mismatched entity is still returned (its
    offsets are trusted, as brat does), a malformed one is not.
    """
    entities: list[Entity] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for number, raw in enumerate(ann.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line[0] in "RE*AMN#":
            continue
        if not line.startswith("T"):
            problems.append(Problem(file, number, "other-line", f"unknown annotation line starting {line[:3]!r}"))
            continue
        match = _T_LINE.match(line)
        if match is None:
            problems.append(Problem(file, number, "malformed",
                                    "a T line must be 'T<n><TAB><type> <start> <end>[;<start> <end>]<TAB><mention>'"))
            continue
        tid, etype, offsets, mention = match.groups()
        spans = tuple((int(a), int(b)) for a, b in (frag.split(" ") for frag in offsets.split(";")))
        bad = [s for s in spans if not 0 <= s[0] < s[1] <= len(text)]
        order = all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))
        if bad or not order:
            problems.append(Problem(file, number, "offsets",
                                    f"{tid}: fragments {offsets} are empty, reversed, unordered or outside the "
                                    f"text (length {len(text)})"))
            continue
        if tid in seen:
            problems.append(Problem(file, number, "duplicate-id", f"{tid} is defined twice; the second is dropped"))
            continue
        seen.add(tid)
        expected = " ".join(text[a:b] for a, b in spans)
        if mention != expected:
            problems.append(Problem(file, number, "mismatch",
                                    f"{tid}: the mention differs from the text slice {offsets} "
                                    f"({len(mention)} vs {len(expected)} characters)"))
        entities.append(Entity(tid, etype, spans, mention, number))
    return entities, problems


def read_document(txt_path: str | os.PathLike[str], *, redistributable: bool | None = None) -> BratDocument:
    """Return the brat document of ``txt_path`` and the ``.ann`` beside it (chapter 12).

    A missing ``.ann`` gives a document without entities and a ``missing-ann`` problem. ``redistributable``
    defaults to :func:`is_redistributable` of the file.
    """
    path = Path(txt_path)
    if not path.is_file():
        raise BratError(f"{path} does not exist; give the path of a brat .txt file.")
    text = read_text_exact(path)
    ann_path = path.with_suffix(".ann")
    flag = is_redistributable(path) if redistributable is None else redistributable
    if not ann_path.is_file():
        problems = [Problem(str(ann_path), 0, "missing-ann", "no .ann file beside the .txt; read as unannotated")]
        return BratDocument(path.stem, text, (), str(path), flag, tuple(problems))
    entities, problems = parse_ann(read_text_exact(ann_path), text, file=str(ann_path))
    return BratDocument(path.stem, text, tuple(entities), str(path), flag, tuple(problems))


def read_folder(folder: str | os.PathLike[str], *, require_ann: bool = True) -> BratCorpus:
    """Return every ``.txt``/``.ann`` pair of ``folder`` as a :class:`BratCorpus` (chapter 12).

    Documents are sorted by id (numeric stems numerically). An ``.ann`` without its ``.txt`` is a
    ``missing-txt`` problem; a ``.txt`` without ``.ann`` is a ``missing-ann`` problem when ``require_ann``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise BratError(f"{root} is not a folder; give a folder of brat .txt/.ann pairs.")
    flag = is_redistributable(root)
    txts = sorted(root.glob("*.txt"), key=lambda p: _doc_key(p.stem))
    if not txts:
        raise BratError(f"{root} holds no .txt files; a brat folder has one .txt and one .ann per document.")
    docs = [read_document(p, redistributable=flag) for p in txts]
    problems = [pr for d in docs for pr in d.problems if require_ann or pr.kind != "missing-ann"]
    stems = {p.stem for p in txts}
    problems += [Problem(str(a), 0, "missing-txt", "no .txt file beside this .ann; skipped")
                 for a in sorted(root.glob("*.ann")) if a.stem not in stems]
    return BratCorpus(str(root), tuple(docs), tuple(problems), flag)


def format_ann(entities: Sequence[Entity], text: str) -> str:
    """Return the ``.ann`` text of ``entities`` with mentions taken from ``text`` (chapter 12)."""
    lines = []
    for k, ent in enumerate(entities, start=1):
        tid = ent.id or f"T{k}"
        offsets = ";".join(f"{a} {b}" for a, b in ent.spans)
        mention = " ".join(text[a:b] for a, b in ent.spans)
        lines.append(f"{tid}\t{ent.type} {offsets}\t{mention}")
    return "\n".join(lines) + ("\n" if lines else "")


def write_document(folder: str | os.PathLike[str], doc_id: str, text: str, entities: Sequence[Entity], *,
                   write_text: bool = True) -> Path:
    """Write ``<doc_id>.ann`` (and ``.txt`` when ``write_text``) into ``folder``; return the ``.ann`` path."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    if write_text:
        (root / f"{doc_id}.txt").write_text(text, encoding="utf-8", newline="")
    ann = root / f"{doc_id}.ann"
    tmp = ann.with_suffix(".ann.part")
    tmp.write_text(format_ann(entities, text), encoding="utf-8", newline="")
    tmp.replace(ann)
    return ann


def _refuse(doc: BratDocument | BratCorpus, what: str) -> None:
    if not doc.redistributable:
        where = doc.path if isinstance(doc, BratDocument) else doc.root
        raise NotRedistributableError(
            f"Refusing to {what}: {where} comes from a corpus marked not redistributable (no licence to show "
            "its text). Show counts and scores only, or use the course's synthetic documents.")


def show_entities(doc: BratDocument, *, limit: int = 20, context: int = 0) -> str:
    """Return a text table of a document's entities with their mentions; refuses protected text (chapter 12)."""
    _refuse(doc, f"display entities of document {doc.doc_id}")
    rows = [f"{'id':<6}{'type':<12}{'offsets':<22}mention"]
    for ent in doc.entities[:limit]:
        offsets = ";".join(f"{a} {b}" for a, b in ent.spans)
        left = doc.text[max(0, ent.start - context):ent.start] if context else ""
        right = doc.text[ent.end:ent.end + context] if context else ""
        mention = " ".join(doc.text[a:b] for a, b in ent.spans).replace("\n", "⏎")
        shown = f"{left}[{mention}]{right}".replace("\n", "⏎") if context else mention
        rows.append(f"{ent.id:<6}{ent.type:<12}{offsets:<22}{shown}")
    return "\n".join(rows)


def list_problems(corpus: BratCorpus | BratDocument, *, limit: int = 20) -> str:
    """Return the problems as lines ``file:line: kind: message``; refuses protected corpora (chapter 12).

    Messages themselves never quote text, but the listing names files and lines a reader would open, so a
    corpus marked not redistributable is refused; use :func:`corpus_counts` for it.
    """
    _refuse(corpus, "list problems with file and line")
    return "\n".join(str(p) for p in corpus.problems[:limit])


def corpus_counts(corpus: BratCorpus) -> dict[str, object]:
    """Return counts only (safe for any corpus): documents, characters, entities per type, problems (chapter 12)."""
    types = Counter(e.type for d in corpus.documents for e in d.entities)
    discontinuous = [e for d in corpus.documents for e in d.entities if e.discontinuous]
    gaps = [(d, e.spans[i][1], e.spans[i + 1][0]) for d in corpus.documents for e in d.entities
            if e.discontinuous for i in range(len(e.spans) - 1)]
    newline_gaps = sum(1 for d, a, b in gaps if d.text[a:b] == "\n")
    return {
        "documents": len(corpus.documents),
        "characters": sum(len(d.text) for d in corpus.documents),
        "entities": sum(types.values()),
        "per_type": dict(types.most_common()),
        "discontinuous": len(discontinuous),
        "gaps": len(gaps),
        "newline_gaps": newline_gaps,
        "problems": dict(Counter(p.kind for p in corpus.problems)),
    }


def _han(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf"


def _visible_text(path: Path) -> str:
    """Return what a reader could see of a built file: HTML without tags, a notebook's strings, else the text."""
    import html
    import json

    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            strings: list[str] = []

            def walk(value: object) -> None:
                if isinstance(value, str):
                    strings.append(value)
                elif isinstance(value, dict):
                    for item in value.values():
                        walk(item)
                elif isinstance(value, list):
                    for item in value:
                        walk(item)

            walk(json.loads(raw))
            raw = "".join(strings)
        except json.JSONDecodeError:
            pass
    elif path.suffix in (".html", ".htm"):
        raw = re.sub(r"<[^>]*>", "", raw)
    return html.unescape(raw)


def leaked_text(corpus: BratCorpus, files: Iterable[str | os.PathLike[str]], *, length: int = 10,
                min_han: int = 6) -> dict[str, int]:
    """Return ``{file: hits}`` for files that contain text of ``corpus`` (chapter 12's check of the built site).

    A hit is a run of ``length`` non-space characters (at least ``min_han`` of them Chinese) that occurs both in
    a file (HTML: tags dropped, entities decoded; a notebook: every string of its JSON) and in a document of ``corpus``, whitespace ignored on both sides. Only file
    names and counts come back, never the text, so the check itself is safe to run on a protected corpus.
    """
    found: dict[str, int] = {}
    windows_of: dict[str, set[str]] = {}
    for file in files:
        flat = "".join(_visible_text(Path(file)).split())
        keep = {flat[i:i + length] for i in range(len(flat) - length + 1)
                if _han(flat[i]) and sum(map(_han, flat[i:i + length])) >= min_han}
        if keep:
            windows_of[str(file)] = keep
    if not windows_of:
        return found
    for doc in corpus.documents:
        flat = "".join(doc.text.split())
        doc_windows = {flat[i:i + length] for i in range(len(flat) - length + 1)}
        for file, keep in windows_of.items():
            hits = len(keep & doc_windows)
            if hits:
                found[file] = found.get(file, 0) + hits
    return found
