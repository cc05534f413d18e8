"""Word and sentence splitting shared by every text chapter (chapter 7 teaches it; chapters 8-14 use it).

``words`` is the course's one word tokenizer for counting (chapters 7-11): lower-cased runs of letters and
digits, where an internal hyphen keeps a term whole, so ``SARS-CoV-2``, ``COVID-19``, ``2019-nCoV`` and
``IL-6`` are single tokens (``sars-cov-2``, ``covid-19``, ``2019-ncov``, ``il-6``). Punctuation, dashes that
are not ASCII hyphens (``2–14`` is two numbers) and underscores separate tokens. ``sentences`` is a small
rule-based splitter (a full stop, question or exclamation mark followed by white space and an upper-case
letter, digit or bracket), which knows the common abbreviations of scientific prose; chapter 7 measures it
against NLTK's Punkt.
"""

from __future__ import annotations

import re

__all__ = ["WORD_PATTERN", "words", "word_spans", "sentences"]

#: A word: letters/digits, optionally joined by single internal hyphens or apostrophes ("sars-cov-2", "il-6").
WORD_PATTERN = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")

_ABBREVIATIONS = (
    "e.g", "i.e", "al", "etc", "vs", "fig", "figs", "eq", "ref", "refs", "no", "approx", "ca", "cf",
    "dr", "mr", "mrs", "ms", "prof", "st", "resp", "var", "spp", "sp", "subsp", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "inc", "ltd", "co", "u.s", "u.k", "min", "max",
)
_ABBREV_SET = frozenset(_ABBREVIATIONS)
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*\s+(?=[A-Z0-9(\[\"'])")


def words(text: str) -> list[str]:
    """Return the lower-cased word tokens of ``text`` (chapter 7; used by chapters 8-11).

    Internal hyphens and digits are kept (``"SARS-CoV-2 binds ACE2."`` gives
    ``["sars-cov-2", "binds", "ace2"]``); everything else that is not a letter or digit separates words.
    """
    return WORD_PATTERN.findall(text.lower())


def word_spans(text: str) -> list[tuple[int, int]]:
    """Return the ``(start, end)`` character offsets of the tokens :func:`words` finds (chapter 7)."""
    return [m.span() for m in WORD_PATTERN.finditer(text)]


def _ends_with_abbreviation(chunk: str) -> bool:
    tail = chunk.rstrip(".!?\"')] ").lower()
    last = re.split(r"\s+", tail)[-1].lstrip("([{\"'") if tail else ""
    if last in _ABBREV_SET:
        return True
    return len(last) == 1 and last.isalpha()  # an initial, as in "S. aureus"


def sentences(text: str) -> list[str]:
    """Return the sentences of ``text``, stripped, without empty ones (chapter 7; used by chapters 8-11).

    A boundary is ``.``, ``!`` or ``?`` (and closing quotes or brackets) followed by white space and an
    upper-case letter, a digit or an opening bracket, unless the word before it is a known abbreviation
    (``e.g.``, ``et al.``, ``Fig.``, an initial).
    """
    out: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        candidate = text[start : match.end()]
        if _ends_with_abbreviation(text[start : match.start() + 1]):
            continue
        piece = candidate.strip()
        if piece:
            out.append(piece)
        start = match.end()
    rest = text[start:].strip()
    if rest:
        out.append(rest)
    return out
