"""Corpus statistics: token and type counts, Zipf and Heaps fits, the seed's text file, and their figure
(chapter 7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .readers import Document

__all__ = [
    "CorpusStatistics",
    "corpus_statistics",
    "seed_text_file",
    "plot_zipf_heaps",
]


@dataclass(frozen=True)
class CorpusStatistics:
    """Counts of a tokenized corpus, with Zipf and Heaps fits (chapter 7)."""

    documents: int
    empty_documents: int  # documents without a single token
    tokens: int
    types: int
    hapaxes: int  # types seen once
    zipf_slope: float  # slope of log frequency on log rank (ranks 10 to 5,000 or the last)
    heaps_k: float  # types ~= heaps_k * tokens ** heaps_beta
    heaps_beta: float
    heaps_tokens: tuple[int, ...]  # the type-token growth curve
    heaps_types: tuple[int, ...]
    frequencies: tuple[int, ...]  # sorted, largest first
    top: tuple[tuple[str, int], ...]

    @property
    def hapax_share(self) -> float:
        """Return the share of types seen exactly once."""
        return self.hapaxes / self.types if self.types else float("nan")

    @property
    def type_token_ratio(self) -> float:
        """Return types / tokens."""
        return self.types / self.tokens if self.tokens else float("nan")

    def as_row(self) -> dict[str, Any]:
        """Return the headline numbers as a table row."""
        return {"documents": self.documents, "empty documents": self.empty_documents, "tokens": self.tokens,
                "types": self.types, "hapax share": round(self.hapax_share, 3),
                "Zipf slope": round(self.zipf_slope, 2), "Heaps beta": round(self.heaps_beta, 2)}


def corpus_statistics(texts: Sequence[str], tokenize: Any = None, *, points: int = 30, top: int = 20) -> CorpusStatistics:
    """Return the statistics of ``texts`` tokenized by ``tokenize`` (default: the course's ``words``)
    (chapter 7): documents, tokens, types, hapaxes, a Zipf fit of frequency on rank and a Heaps fit of the
    type-token growth curve measured at ``points`` positions."""
    from collections import Counter

    from .tokenize import words

    tok = tokenize or words
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    n_tokens = empty = 0
    per_doc = [tok(t) for t in texts]
    total = sum(len(d) for d in per_doc)
    marks = sorted({max(1, int(total * (k + 1) / points)) for k in range(points)}) if total else []
    curve_tokens: list[int] = []
    curve_types: list[int] = []
    next_mark = 0
    for doc in per_doc:
        if not doc:
            empty += 1
        counts.update(doc)
        for token in doc:
            seen.add(token)
            n_tokens += 1
            if next_mark < len(marks) and n_tokens == marks[next_mark]:
                curve_tokens.append(n_tokens)
                curve_types.append(len(seen))
                next_mark += 1
    freqs = np.array(sorted(counts.values(), reverse=True), dtype=float)
    slope = float("nan")
    if len(freqs) > 20:
        stop = min(len(freqs), 5000)
        ranks = np.arange(1, len(freqs) + 1)
        slope = float(np.polyfit(np.log(ranks[9:stop]), np.log(freqs[9:stop]), 1)[0])
    k = beta = float("nan")
    if len(curve_tokens) >= 3:
        beta, logk = np.polyfit(np.log(curve_tokens), np.log(curve_types), 1)
        k, beta = float(np.exp(logk)), float(beta)
    return CorpusStatistics(
        documents=len(texts), empty_documents=empty, tokens=n_tokens, types=len(counts),
        hapaxes=sum(1 for v in counts.values() if v == 1), zipf_slope=slope, heaps_k=k, heaps_beta=beta,
        heaps_tokens=tuple(curve_tokens), heaps_types=tuple(curve_types),
        frequencies=tuple(int(f) for f in freqs), top=tuple(counts.most_common(top)),
    )


def seed_text_file(documents: Sequence[Document]) -> str:
    """Return the seed's ``titles_abstracts.txt``: each title and abstract on its own line, a missing field
    written as a single space, nothing cleaned (chapter 7). Lines end in CRLF, as in the seed's file."""
    lines: list[str] = []
    for doc in documents:
        lines.append(doc.title or " ")
        lines.append(doc.abstract or " ")
    return "\r\n".join(lines)


def plot_zipf_heaps(stats: Mapping[str, CorpusStatistics]) -> Any:
    """Return a figure with the Zipf plot (frequency against rank, log-log) and the Heaps curve (types against
    tokens) of each named corpus (chapter 7)."""
    import matplotlib.pyplot as plt

    from ..plotting import apply_style

    apply_style()
    fig, (ax_z, ax_h) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name, st in stats.items():
        ranks = np.arange(1, len(st.frequencies) + 1)
        ax_z.loglog(ranks, st.frequencies, label=f"{name} (slope {st.zipf_slope:.2f})", lw=1.2)
        ax_h.plot(st.heaps_tokens, st.heaps_types, marker=".", label=f"{name} (beta {st.heaps_beta:.2f})", lw=1.2)
    if stats:
        first = next(iter(stats.values()))
        if first.frequencies:
            ranks = np.arange(1, len(first.frequencies) + 1)
            ax_z.loglog(ranks, first.frequencies[0] / ranks, "k:", lw=0.8, label="1 / rank")
    ax_z.set(xlabel="rank", ylabel="frequency", title="Zipf: frequency against rank")
    ax_h.set(xlabel="tokens read", ylabel="distinct types", title="Heaps: vocabulary growth")
    ax_z.legend()
    ax_h.legend()
    fig.tight_layout()
    return fig
