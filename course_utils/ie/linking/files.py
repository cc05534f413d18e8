"""The files a student brings to the chapter-14 command (chapter 14): a dictionary TSV (id, name), mentions one per
line, or a PubTator file whose abstracts feed the context features. Each bad line is named by file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .data import (
    LinkingDataError,
    Vocabulary,
    parse_ids,
)
from .rankers import LinkingError, _check_vocabulary

# ------------------------------------------------------------------------------------------------------------
# Files a user brings, and the command line.


__all__ = ["read_dictionary_tsv", "read_mention_lines", "read_document_mentions", "DocumentMentions", "is_pubtator"]

def _read_text(path: Path, what: str) -> str:
    if path.is_dir():
        raise LinkingError(f"{path} is a folder; pass a {what}.")
    if not path.is_file():
        raise LinkingError(f"{path} does not exist; pass a {what}.")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise LinkingError(f"{path} is not a text file (it contains NUL bytes); pass a UTF-8 {what}.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LinkingError(f"{path} is not UTF-8 text (byte {exc.start}); pass a UTF-8 {what}.") from None


def read_dictionary_tsv(path: str | Path) -> Vocabulary:
    """Return the dictionary of a TSV file with one ``id<TAB>name`` row per line (chapter 14's commands)."""
    path = Path(path)
    names: list[str] = []
    ids: list[str] = []
    for lineno, line in enumerate(_read_text(path, "dictionary (id<TAB>name per line)").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 2 or not cols[1].strip():
            raise LinkingError(f"{path}:{lineno}: expected 'id<TAB>name', found {line[:60]!r}.")
        parsed, _ = parse_ids(cols[0], where=f"{path}:{lineno}")
        if len(parsed) != 1:
            raise LinkingDataError(f"{path}:{lineno}: a dictionary row names one id, found {cols[0]!r}.")
        ids.append(parsed[0])
        names.append(cols[1].strip())
    vocab = Vocabulary(tuple(names), tuple(ids))
    _check_vocabulary(vocab)
    return vocab


def read_mention_lines(path: str | Path) -> list[str]:
    """Return the mentions of a text file, one per non-empty line (chapter 14's commands)."""
    path = Path(path)
    lines = [line.strip() for line in _read_text(path, "mention file (one mention per line)").splitlines()]
    mentions = [line for line in lines if line]
    if not mentions:
        raise LinkingError(f"{path} has no mentions; write one mention per line.")
    return mentions


_PUBTATOR_TEXT = re.compile(r"^(\d+)\|([ta])\|(.*)$")


@dataclass(frozen=True)
class DocumentMentions:
    """Mentions read with their documents (chapter 14's ``link`` command): what the context features need.

    ``queries`` as written; ``variants`` each with its abstract's short forms expanded; ``cited`` the OMIM ids
    its abstract cites; ``where`` (document, start, end) per mention; ``gold`` the ids of the file (empty tuples
    where the file gives none)."""

    queries: tuple[str, ...]
    variants: tuple[str, ...]
    cited: tuple[frozenset[str], ...]
    where: tuple[tuple[str, int, int], ...]
    gold: tuple[tuple[str, ...], ...]


def is_pubtator(path: str | Path) -> bool:
    """Return whether a mention file is PubTator (``PMID|t|title`` lines), not one mention per line."""
    text = _read_text(Path(path), "mention file")
    return any(_PUBTATOR_TEXT.match(line) for line in text.splitlines()[:50])


def read_document_mentions(path: str | Path) -> DocumentMentions:
    """Return the mentions of a PubTator file with their documents' context (chapter 14's ``link`` command).

    The format of NCBI-disease and BioRED: ``PMID|t|title`` and ``PMID|a|abstract`` lines, then one line per
    mention, ``PMID<TAB>start<TAB>end<TAB>text<TAB>type`` with an optional sixth column of gold ids (offsets index
    title + " " + abstract). Each mention gets the variants and cited ids that :func:`~course_utils.ie.
    linking_data.ncbi_task` computes, by the same functions, so ``link --recipe`` scores as the benchmarks do.
    """
    from .data import Mention, cited_omim_ids, expanded_mentions

    path = Path(path)
    titles: dict[str, str] = {}
    abstracts: dict[str, str] = {}
    rows: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(_read_text(path, "PubTator mention file").splitlines(), 1):
        if not line.strip():
            continue
        m = _PUBTATOR_TEXT.match(line)
        if m:
            (titles if m.group(2) == "t" else abstracts)[m.group(1)] = m.group(3)
            continue
        cols = line.split("\t")
        if len(cols) not in (5, 6):
            raise LinkingError(f"{path}:{lineno}: expected a PMID|t| or PMID|a| line or 5-6 tab-separated columns "
                               f"(pmid, start, end, text, type[, ids]), found {len(cols)} column(s).")
        rows.append((lineno, cols))
    texts = {pmid: f"{titles.get(pmid, '')} {abstracts.get(pmid, '')}" for pmid in titles.keys() | abstracts.keys()}
    mentions: list[Mention] = []
    for lineno, cols in rows:
        pmid, start, end, text, kind = cols[:5]
        here = f"{path}:{lineno}"
        if pmid not in texts:
            raise LinkingError(f"{here}: mention of document {pmid}, which has no {pmid}|t| or {pmid}|a| line; add "
                               "the document's title and abstract above its mentions.")
        try:
            s, e = int(start), int(end)
        except ValueError:
            raise LinkingError(f"{here}: offsets {start!r}, {end!r} are not whole numbers.") from None
        doc = texts[pmid]
        if not 0 <= s < e <= len(doc):
            raise LinkingError(f"{here}: offsets {s}-{e} fall outside document {pmid} ({len(doc)} characters).")
        if doc[s:e] != text.strip():
            raise LinkingError(f"{here}: mention {text!r} differs from the text at {s}-{e}, {doc[s:e]!r}; fix the "
                               "offsets (they index title + ' ' + abstract).")
        ids = parse_ids(cols[5], where=here)[0] if len(cols) == 6 and cols[5].strip() else ()
        mentions.append(Mention(pmid, s, e, doc[s:e], kind, ids, cols[5] if len(cols) == 6 else "", len(ids) > 1))
    if not mentions:
        raise LinkingError(f"{path} has no mention lines; after each document's |t| and |a| lines write "
                           "'pmid<TAB>start<TAB>end<TAB>text<TAB>type' per mention.")
    return DocumentMentions(tuple(m.text for m in mentions), tuple(expanded_mentions(mentions, texts)),
                            tuple(frozenset(cited_omim_ids(texts[m.doc_id])) for m in mentions),
                            tuple((m.doc_id, m.start, m.end) for m in mentions), tuple(m.ids for m in mentions))
