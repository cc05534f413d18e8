"""Readers of real biomedical text: CORD-19 ``metadata.csv``, PubTator files (BioRED, NCBI-disease), LitCoin
abstracts, and the word-similarity sets (chapter 7; used by chapters 8-14).

Every reader returns :class:`Document` records with clean text: HTML entities
unescaped (the seed left ``&ndash;`` in), line endings and Unicode normalised (NFC), white space collapsed.
A row the reader cannot parse raises :class:`CorpusReadError` naming the file and line.
"""

from __future__ import annotations

import csv
import html
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import CourseError

__all__ = [
    "Document",
    "CorpusReadError",
    "CordMetadata",
    "clean_text",
    "clean_documents",
    "read_cord19_metadata",
    "read_pubtator",
    "read_litcoin_abstracts",
    "real_abstracts",
    "real_text_files",
    "read_similarity_set",
    "read_umnsrs_csv",
    "read_mayosrs",
    "similarity_set_name",
    "similarity_sets",
    "EvaluationError",
    "read_word_classes",
]

_REQUIRED = ("cord_uid", "title", "abstract")
_WS = re.compile(r"\s+")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);")


class CorpusReadError(CourseError, ValueError):
    """A text file the course cannot read as expected: missing column, broken row, bad line (chapter 7)."""


class EvaluationError(CourseError, ValueError):
    """Input that chapter 11's evaluation cannot use: a malformed pair, an empty word-class folder, too few points.

    Defined beside the readers (and re-exported by :mod:`course_utils.text.evaluate`, where chapter 11 uses it) so
    that chapter 8's :func:`~course_utils.text.vectors.word_categories` reads the word classes without importing
    the evaluation module (issue 29: no import circle)."""


# --- word classes -------------------------------------------------------------------------------------------------


def read_word_classes(folder: str | Path) -> dict[str, tuple[str, ...]]:
    """Return ``{class: members}`` from a folder of word-class files, one ``<class>.txt`` per class and one term a
    line (chapter 11; the format of Ohta's biomedical word classes in ``word_classes/``).

    Blank lines are skipped; terms keep their case ("American", "EGFR"): lower-case them for uncased vectors.
    """
    root = Path(folder)
    files = sorted(root.glob("*.txt")) if root.is_dir() else []
    if not files:
        raise EvaluationError(f"{root} holds no <class>.txt files; point to a word_classes folder (fetch it with "
                              "`python -m course_utils.data fetch word_classes`, or COURSE_REAL_DATA/word_classes).")
    classes: dict[str, tuple[str, ...]] = {}
    for path in files:
        terms = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        classes[path.stem] = tuple(t for t in terms if t)
    return classes


@dataclass(frozen=True)
class Document:
    """One title + abstract record (chapter 7; every text chapter).

    ``source`` says where it came from (``"synthetic"``, ``"cord19"``, ``"biored"``, ...). It lives here, below
    :mod:`course_utils.text.corpus` (which re-exports it), so that the readers need nothing from the corpus module.
    """

    doc_id: str
    title: str
    abstract: str
    source: str = ""

    @property
    def text(self) -> str:
        """Return ``title + " " + abstract`` (the seed's concatenation; a missing field leaves a space)."""
        return f"{self.title} {self.abstract}"


def clean_text(text: str) -> str:
    """Return ``text`` with HTML entities unescaped, Unicode in NFC and all white space (CRLF, tabs,
    non-breaking spaces) collapsed to single spaces, stripped (chapter 7).

    Entities are unescaped until none is left, so a doubly escaped ``&amp;ndash;`` becomes ``–`` too.
    """
    for _ in range(3):
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    text = unicodedata.normalize("NFC", text)
    return _WS.sub(" ", text).strip()


def clean_documents(documents: Iterable[Document]) -> tuple[list[Document], dict[str, int]]:
    """Return ``documents`` cleaned by the reader's rules, and what was repaired (chapter 7): text through
    :func:`clean_text`, repeated ``doc_id`` dropped, records with neither title nor abstract dropped. The counts
    are ``duplicates``, ``empty`` (dropped), ``with_entities`` and ``with_crlf`` (records that held them)."""
    out: list[Document] = []
    seen: set[str] = set()
    counts = {"duplicates": 0, "empty": 0, "with_entities": 0, "with_crlf": 0}
    for doc in documents:
        raw = doc.title + doc.abstract
        counts["with_entities"] += bool(_ENTITY.search(raw))
        counts["with_crlf"] += "\r" in raw
        if doc.doc_id in seen:
            counts["duplicates"] += 1
            continue
        seen.add(doc.doc_id)
        title, abstract = clean_text(doc.title), clean_text(doc.abstract)
        if not title and not abstract:
            counts["empty"] += 1
            continue
        out.append(Document(doc.doc_id, title, abstract, doc.source))
    return out, counts


@dataclass(frozen=True)
class CordMetadata:
    """What :func:`read_cord19_metadata` read, with the counts the chapter reports (chapter 7)."""

    path: Path
    documents: tuple[Document, ...]
    n_rows: int  # data rows in the file
    n_duplicate_ids: int  # rows dropped because their cord_uid was seen before
    n_duplicate_dois: int  # rows dropped because their DOI was seen before (when a doi column exists)
    n_empty_titles: int
    n_empty_abstracts: int
    n_empty_rows: int  # rows with neither title nor abstract (dropped)
    n_with_entities: int  # rows whose title or abstract held HTML entities
    n_with_crlf: int  # rows whose title or abstract held a carriage return
    n_characters: int  # title + abstract characters of the kept documents, after cleaning


def _open_csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    csv.field_size_limit(1 << 30)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            for row in reader:
                yield reader.line_num, row
        except csv.Error as exc:
            raise CorpusReadError(
                f"{path}, line {reader.line_num}: broken CSV ({exc}). Check the quoting of that row "
                "(an unclosed quote swallows the rest of the file) or re-download the file."
            ) from exc


def _csv_header(file: Path, rows: Iterator[tuple[int, list[str]]], required: tuple[str, ...], hint: str) -> list[str]:
    """Return the stripped header row of ``rows``; an empty file or a missing required column raises
    :class:`CorpusReadError` naming the file, the columns found and ``hint`` (what the file should be)."""
    try:
        _, header = next(rows)
    except StopIteration:
        raise CorpusReadError(f"{file} is empty: expected a header with {', '.join(required)}. {hint}") from None
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise CorpusReadError(f"{file}, line 1: missing required column(s) {', '.join(missing)}; the header has "
                              f"{', '.join(header)}. {hint}")
    return header


def read_cord19_metadata(path: str | os.PathLike[str], *, max_rows: int | None = None,
                         max_documents: int | None = None) -> CordMetadata:
    """Return the cleaned, de-duplicated documents of a CORD-19 ``metadata.csv`` and its counts (chapter 7).

    Required columns: ``cord_uid``, ``title``, ``abstract`` (others optional; ``doi`` is used for
    de-duplication when present). Entities are unescaped, CRLF and Unicode normalised; rows whose
    ``cord_uid`` or DOI was seen before are dropped and counted; rows with neither title nor abstract are
    dropped; a row with the wrong number of fields, an empty ``cord_uid`` or broken quoting raises
    :class:`CorpusReadError` naming the file and line.

    ``max_rows`` stops after that many data rows; ``max_documents`` stops as soon as that many documents are kept
    (the first ``max_documents`` of the whole file's documents, without parsing the rest of a 1.6 GB file).
    """
    file = Path(path)
    if not file.is_file():
        raise CorpusReadError(f"No CORD-19 metadata file at {file}; fetch it with `python -m course_utils.data fetch cord19`.")
    rows = _open_csv_rows(file)
    header = _csv_header(file, rows, _REQUIRED, "Is this a CORD-19 metadata.csv?")
    col = {name: header.index(name) for name in header}
    docs: list[Document] = []
    seen_ids: set[str] = set()
    seen_dois: set[str] = set()
    n_rows = dup_ids = dup_dois = empty_t = empty_a = empty_rows = with_ent = with_cr = n_chars = 0
    for line, row in rows:
        if max_rows is not None and n_rows >= max_rows:
            break
        if max_documents is not None and len(docs) >= max_documents:
            break
        if not row:
            continue
        n_rows += 1
        if len(row) != len(header):
            raise CorpusReadError(
                f"{file}, line {line}: {len(row)} fields where the header has {len(header)}. "
                "The row is broken (a stray comma or quote); fix or remove it."
            )
        uid = row[col["cord_uid"]].strip()
        if not uid:
            raise CorpusReadError(f"{file}, line {line}: empty cord_uid; every row needs one.")
        raw_title, raw_abstract = row[col["title"]], row[col["abstract"]]
        with_ent += bool(_ENTITY.search(raw_title + raw_abstract))
        with_cr += "\r" in raw_title + raw_abstract
        if uid in seen_ids:
            dup_ids += 1
            continue
        doi = row[col["doi"]].strip().lower() if "doi" in col else ""
        if doi and doi in seen_dois:
            dup_dois += 1
            continue
        seen_ids.add(uid)
        if doi:
            seen_dois.add(doi)
        title, abstract = clean_text(raw_title), clean_text(raw_abstract)
        empty_t += not title
        empty_a += not abstract
        if not title and not abstract:
            empty_rows += 1
            continue
        n_chars += len(title) + len(abstract)
        docs.append(Document(uid, title, abstract, "cord19"))
    return CordMetadata(file, tuple(docs), n_rows, dup_ids, dup_dois, empty_t, empty_a, empty_rows, with_ent,
                        with_cr, n_chars)


def read_pubtator(path: str | os.PathLike[str], *, source: str = "pubtator") -> list[Document]:
    """Return the title + abstract documents of a PubTator file (``PMID|t|title``, ``PMID|a|abstract``
    lines; annotation lines are skipped) (chapter 7; BioRED and NCBI-disease use this format).

    A ``|a|`` line whose PMID has no ``|t|`` line before it raises :class:`CorpusReadError` with the line.
    """
    file = Path(path)
    docs: list[Document] = []
    titles: dict[str, str] = {}
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if "|t|" in line[:30]:
                pmid, _, title = line.partition("|t|")
                titles[pmid.strip()] = title
            elif "|a|" in line[:30]:
                pmid, _, abstract = line.partition("|a|")
                pmid = pmid.strip()
                if pmid not in titles:
                    raise CorpusReadError(f"{file}, line {number}: abstract of PMID {pmid} without its title line.")
                docs.append(Document(pmid, clean_text(titles.pop(pmid)), clean_text(abstract), source))
    return docs


def read_litcoin_abstracts(path: str | os.PathLike[str]) -> list[Document]:
    """Return the documents of a LitCoin ``abstracts_*.csv`` (tab-separated despite the name: ``abstract_id``,
    ``title``, ``abstract``) (chapter 7; chapter 13 reads its annotations)."""
    file = Path(path)
    docs: list[Document] = []
    with open(file, encoding="utf-8", newline="") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
        if header[:3] != ["abstract_id", "title", "abstract"]:
            raise CorpusReadError(f"{file}, line 1: expected the header abstract_id, title, abstract; found {header}.")
        for number, line in enumerate(handle, 2):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != 3:
                raise CorpusReadError(f"{file}, line {number}: {len(fields)} tab-separated fields, expected 3.")
            docs.append(Document(fields[0].strip(), clean_text(fields[1]), clean_text(fields[2]), "litcoin"))
    return docs


def real_text_files(root: str | os.PathLike[str]) -> dict[str, Path]:
    """Return the real text files under ``root`` (a folder like ``../shared/data``) that
    :func:`real_abstracts` reads, by name, skipping those that are absent (chapter 7)."""
    base = Path(root)
    candidates = {
        "cord19_sample": base / "cord19_sample" / "metadata_subset_small.csv",
        "biored_train": base / "biored" / "Train.PubTator",
        "biored_dev": base / "biored" / "Dev.PubTator",
        "litcoin_train": base / "litcoin" / "abstracts_train.csv",
        "litcoin_test": base / "litcoin" / "abstracts_test.csv",
        "ncbi_train": base / "ncbi_disease" / "NCBItrainset.txt",
        "ncbi_develop": base / "ncbi_disease" / "NCBIdevelopset.txt",
    }
    return {name: path for name, path in candidates.items() if path.is_file()}


_EVAL_FILES = ("biored_dev", "ncbi_develop")


def real_abstracts(root: str | os.PathLike[str], *, exclude_eval: bool = True) -> list[Document]:
    """Return every real title + abstract under ``root`` once: the CORD-19 sample, BioRED, LitCoin and
    NCBI-disease, de-duplicated by PMID (chapter 7; chapters 8-11 use it for real-data runs).

    With ``exclude_eval`` the evaluation splits (BioRED Dev, NCBI-disease develop) are left out, and so is
    any abstract of another file whose PMID is in them, so that later chapters can evaluate on those splits
    without having trained on their text. Documents without text are skipped. Raises
    :class:`CorpusReadError` when ``root`` holds none of the files.
    """
    files = real_text_files(root)
    if not files:
        raise CorpusReadError(
            f"No real text files under {root}: expected cord19_sample/, biored/, litcoin/ or ncbi_disease/ "
            "(set COURSE_REAL_DATA to a folder like ../shared/data)."
        )
    held_out: set[str] = set()
    if exclude_eval:
        for name in _EVAL_FILES:
            if name in files:
                held_out.update(d.doc_id for d in read_pubtator(files[name]))
    out: list[Document] = []
    seen: set[str] = set()
    for name, path in files.items():
        if exclude_eval and name in _EVAL_FILES:
            continue
        docs: Iterable[Document]
        if name == "cord19_sample":
            docs = read_cord19_metadata(path).documents
        elif name.startswith("litcoin"):
            docs = read_litcoin_abstracts(path)
        else:
            docs = read_pubtator(path, source=name.split("_")[0])
        for doc in docs:
            if doc.doc_id in seen or doc.doc_id in held_out or not (doc.title or doc.abstract):
                continue
            seen.add(doc.doc_id)
            out.append(doc)
    return out


# --------------------------------------------------------------------------------------------------
# Word-similarity sets (chapters 8 and 11)

_SET_NAMES = {
    "umnsrs-sim": "UMNSRS-sim",
    "umnsrs-rel": "UMNSRS-rel",
    "minimayosrs": "MiniMayoSRS",
    "mayosrs": "MayoSRS",
    "bio-simlex": "Bio-SimLex",
}
#: File names the manifests fetch (data_manifests/umnsrs.yaml, mayosrs.yaml, bio_simlex.yaml), by set name.
_MANIFEST_FILES = {
    "umnsrs_similarity.csv": "UMNSRS-sim",
    "umnsrs_relatedness.csv": "UMNSRS-rel",
    "mayosrs.gold": "MayoSRS",
    "bio-simlex.txt": "Bio-SimLex",
}


def similarity_set_name(path: str | os.PathLike[str]) -> str:
    """Return the dataset name of a similarity file from its file name (chapters 8, 11): the wvlib copies'
    ``UMNSRS_UMNSRS-sim.txt`` -> ``UMNSRS-sim`` and ``bio-simlex_Bio-SimLex.txt`` -> ``Bio-SimLex``, and the
    manifests' ``UMNSRS_similarity.csv`` -> ``UMNSRS-sim``, ``UMNSRS_relatedness.csv`` -> ``UMNSRS-rel``,
    ``MayoSRS.gold`` -> ``MayoSRS``, ``Bio-SimLex.txt`` -> ``Bio-SimLex``."""
    file = Path(path)
    if file.name.lower() in _MANIFEST_FILES:
        return _MANIFEST_FILES[file.name.lower()]
    stem = file.stem.lower()
    last = stem.split("_")[-1]
    for key in sorted(_SET_NAMES, key=len, reverse=True):
        if last == key or last.endswith(key):
            return _SET_NAMES[key]
    return file.stem.split("_")[-1]


def _score(value: str, file: Path, number: int) -> float:
    try:
        return float(value)
    except ValueError:
        raise CorpusReadError(f"{file}, line {number}: the score {value!r} is not a number.") from None


def read_umnsrs_csv(path: str | os.PathLike[str]) -> list[tuple[str, str, float]]:
    """Return the ``(term1, term2, mean rating)`` pairs of a UMNSRS CSV as the ``umnsrs`` manifest fetches it
    (cui2vec's copy: quoted header ``Mean, Stdev, Term1, Term2, CUI1, CUI2``), terms lower-cased (chapter 11).

    A missing column or a rating that is not a number raises :class:`CorpusReadError` naming the file and line.
    """
    file = Path(path)
    rows = _open_csv_rows(file)
    header = _csv_header(file, rows, ("Mean", "Term1", "Term2"),
                         "Is this a UMNSRS file from `python -m course_utils.data fetch umnsrs`?")
    mean, first, second = header.index("Mean"), header.index("Term1"), header.index("Term2")
    pairs: list[tuple[str, str, float]] = []
    for number, row in rows:
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise CorpusReadError(f"{file}, line {number}: {len(row)} fields where the header has {len(header)}.")
        pairs.append((row[first].strip().lower(), row[second].strip().lower(), _score(row[mean], file, number)))
    return pairs


def _angle_fields(line: str, expected: int, file: Path, number: int, what: str) -> list[str]:
    fields = [f.strip().strip('"').strip() for f in line.strip().split("<>")]
    if len(fields) != expected:
        raise CorpusReadError(f"{file}, line {number}: expected {what} separated by '<>', found {len(fields)} field(s).")
    return fields


def read_mayosrs(gold: str | os.PathLike[str], terms: str | os.PathLike[str] | None = None) -> list[tuple[str, str, float]]:
    """Return the ``(term1, term2, score)`` pairs of MayoSRS as the ``mayosrs`` manifest fetches it (chapter 11):
    ``MayoSRS.gold`` holds ``score<>CUI1<>CUI2`` and ``MayoSRS.terms`` (default: beside it) ``term1<>term2``, one
    pair per line in the same order. Terms lower-cased.

    Files of different lengths, a line without its ``<>`` fields or a score that is not a number raise
    :class:`CorpusReadError` naming the file and line.
    """
    gold_file = Path(gold)
    terms_file = Path(terms) if terms is not None else gold_file.with_suffix(".terms")
    if not terms_file.is_file():
        raise CorpusReadError(f"{gold_file} needs its terms file {terms_file} (term1<>term2 per line); fetch both with "
                              "`python -m course_utils.data fetch mayosrs`.")
    with open(gold_file, encoding="utf-8-sig") as handle:
        gold_lines = [(n, line) for n, line in enumerate(handle, 1) if line.strip()]
    with open(terms_file, encoding="utf-8-sig") as handle:
        term_lines = [(n, line) for n, line in enumerate(handle, 1) if line.strip()]
    if len(gold_lines) != len(term_lines):
        raise CorpusReadError(f"{gold_file} has {len(gold_lines)} pairs but {terms_file} has {len(term_lines)}: the two "
                              "files must list the same pairs line by line; fetch mayosrs again.")
    pairs: list[tuple[str, str, float]] = []
    for (g_number, g_line), (t_number, t_line) in zip(gold_lines, term_lines):
        score = _angle_fields(g_line, 3, gold_file, g_number, "score, CUI1, CUI2")[0]
        first, second = _angle_fields(t_line, 2, terms_file, t_number, "term1, term2")
        pairs.append((first.lower(), second.lower(), _score(score, gold_file, g_number)))
    return pairs


def read_similarity_set(path: str | os.PathLike[str]) -> list[tuple[str, str, float]]:
    """Return the ``(term1, term2, score)`` pairs of a similarity file, terms lower-cased and stripped (they may be
    phrases: ``"renal failure"``) (chapter 8; chapter 11 evaluates on them).

    Three formats, by file name: ``*.csv`` is a UMNSRS CSV (:func:`read_umnsrs_csv`), ``*.gold`` is MayoSRS
    (:func:`read_mayosrs`), anything else the tab-separated ``term1 term2 score`` of wvlib (and of Bio-SimLex).
    In the tab-separated files blank lines and ``#`` comments are skipped; a line without three fields or with a
    score that is not a number raises :class:`CorpusReadError` naming the file and line.
    """
    file = Path(path)
    if file.suffix.lower() == ".csv":
        return read_umnsrs_csv(file)
    if file.suffix.lower() == ".gold":
        return read_mayosrs(file)
    pairs: list[tuple[str, str, float]] = []
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            fields = text.split("\t")
            if len(fields) != 3:
                raise CorpusReadError(f"{file}, line {number}: expected term1<TAB>term2<TAB>score, found {len(fields)} field(s).")
            pairs.append((fields[0].strip().lower(), fields[1].strip().lower(), _score(fields[2], file, number)))
    return pairs


def similarity_sets(root: str | os.PathLike[str]) -> dict[str, Path]:
    """Return the similarity files under ``root`` (searched recursively) by dataset name (chapters 8, 11):
    ``UMNSRS-sim``, ``UMNSRS-rel``, ``MayoSRS``, ``MiniMayoSRS``, ``Bio-SimLex``.

    Both layouts are recognised: wvlib's ``*.txt`` files (``../shared/data/word_similarity``) and the files the
    manifests fetch into ``COURSE_DATA_DIR`` (``umnsrs/UMNSRS_similarity.csv``, ``mayosrs/MayoSRS.gold`` with its
    ``.terms``, ``bio_simlex/Bio-SimLex.txt``). Pass any of them to :func:`read_similarity_set`.
    """
    found: dict[str, Path] = {}
    base = Path(root)
    candidates = [*base.rglob("*.txt"), *base.rglob("*.csv"), *base.rglob("*.gold")]
    for path in sorted(candidates):
        name = similarity_set_name(path)
        if name in _SET_NAMES.values():
            found.setdefault(name, path)
    return found
