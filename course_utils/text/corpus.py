"""Each profile's corpus (chapter 7; used by chapters 8-14): :func:`corpus_documents` reads the synthetic corpus,
CORD-19 or the shared real abstracts, as the settings say.

The synthetic corpus itself, with its planted structure, is :mod:`course_utils.text.synthetic_corpus`; the corpus
statistics (Zipf, Heaps) are :mod:`course_utils.text.corpus_stats`. Their public names are re-exported here, where
the chapters have always imported them (``corpus.synthetic_corpus``, ``corpus.corpus_statistics``, ...).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import readers
from .corpus_stats import CorpusStatistics, corpus_statistics, plot_zipf_heaps, seed_text_file
from .readers import Document  # re-exported: corpus.Document keeps working
from .synthetic_corpus import (
    ABBREVIATIONS,
    CATEGORIES,
    COOCCURRENCES,
    RARE_MEMBERS,
    SURFACE_FORMS,
    SYNONYMS,
    TRICKY_STRINGS,
    CorpusError,
    SyntheticCorpus,
    synthetic_corpus,
)

__all__ = [
    "Document",
    "SyntheticCorpus",
    "CorpusError",
    "CATEGORIES",
    "RARE_MEMBERS",
    "SYNONYMS",
    "ABBREVIATIONS",
    "COOCCURRENCES",
    "TRICKY_STRINGS",
    "SURFACE_FORMS",
    "synthetic_corpus",
    "corpus_documents",
    "CorpusStatistics",
    "corpus_statistics",
    "seed_text_file",
    "plot_zipf_heaps",
]


def corpus_documents(settings: Any, *, real_data: str | os.PathLike[str] | None = None) -> list[Document]:
    """Return the profile's corpus as documents (chapter 7; used by chapters 8-11).

    ``settings.corpus`` chooses it: ``"synthetic"`` (smoke: :func:`synthetic_corpus` with
    ``settings.max_documents`` documents and ``settings.seed``), ``"cord19"`` (lab/full: the fetched
    CORD-19 ``metadata.csv``, cleaned and de-duplicated, first ``max_documents``, reading no further), or ``"real"`` (every
    abstract under ``real_data`` or ``$COURSE_REAL_DATA``, see ``readers.real_abstracts``). Settings
    without a ``corpus`` field (chapter 10's) count as synthetic.
    """
    name = getattr(settings, "corpus", "synthetic")
    limit = getattr(settings, "max_documents", None)
    seed = getattr(settings, "seed", 1234)
    if name == "synthetic":
        return list(synthetic_corpus(limit or 2000, seed=seed).documents)
    if name == "cord19":
        from ..data import require_dataset

        folder = require_dataset("cord19")
        # stop reading once ``limit`` documents are kept: the same documents as the whole file's first ``limit``,
        # without parsing the rest of a 1.6 GB metadata.csv in every chapter
        docs = readers.read_cord19_metadata(_find_metadata(folder), max_documents=limit).documents
    elif name == "real":
        root = real_data or os.environ.get("COURSE_REAL_DATA")
        if not root:
            raise CorpusError("The corpus 'real' needs COURSE_REAL_DATA (a folder like ../shared/data) or real_data=.")
        docs = readers.real_abstracts(Path(root))
    else:
        raise CorpusError(f"Unknown corpus {name!r} in the settings: use 'synthetic', 'cord19' or 'real'.")
    return list(docs[:limit] if limit else docs)


def _find_metadata(folder: Path) -> Path:
    hits = sorted(folder.rglob("metadata*.csv"))
    if not hits:
        raise CorpusError(f"No metadata.csv under {folder}; fetch it with `python -m course_utils.data fetch cord19`.")
    return hits[0]
