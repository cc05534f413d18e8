"""Abbreviations and composite mentions in entity linking (chapter 14).

* **abbreviations** -- :func:`schwartz_hearst` finds "long form (SF)" definitions in an abstract (Schwartz and
  Hearst 2003, the preprocessing BioSyn and SapBERT apply), so a mention "APC" can be linked as "adenomatous
  polyposis coli".
* **composites** -- :func:`split_composite` splits "colon and some other cancers" into "colon cancers" and "some
  other cancers" (the head noun of the last conjunct is shared).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .vocabulary import normalize_name

__all__ = [
    "schwartz_hearst",
    "expand_abbreviations",
    "split_composite",
    "is_short_form",
    "document_abbreviations",
    "cited_omim_ids",
]

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
