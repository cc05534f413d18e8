"""Chapter 14 on real data: choose ContextLinker's prior and the TF-IDF weight on training documents only.

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/linking_context_crossval.py [--threads 2]

Two-fold cross-validation over the NCBI-disease *training* documents (split by document, seeded): one half's
mentions join the MeSH/OMIM vocabulary as dictionary rows (training mentions first, as in ``ncbi_task``), the
other half's mentions are the queries, with the ids of the first half as the "known ids"; then the halves swap.
For character TF-IDF and the untrained MiniLM (+ w x TF-IDF) it prints Acc@1 as written and through
``ContextLinker`` (the better of the two forms of each mention, as written and with its abstract's abbreviations
expanded, plus a prior b for known ids), then with the document's own evidence added: short forms the abstract
never defines read off its other mentions, and a bonus c for the OMIM ids the abstract cites. The develop set is
never read: the values chosen here (w = 0.25, b = 0.1, c = 0.1) are what the develop benchmark
``linking_ncbi.py`` then uses.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch


class _CachedDense:
    """A dense linker's ``scores`` from vectors embedded once for both folds (the grid re-scores many times)."""

    def __init__(self, vocabulary, vectors: np.ndarray, row_of: dict[str, int]) -> None:
        from course_utils.ie.linking_data import normalize_name

        self.vocabulary, self.vectors, self.row_of, self._key = vocabulary, vectors, row_of, normalize_name
        self.names = vectors[[row_of[normalize_name(n)] for n in vocabulary.names]]

    def scores(self, queries) -> np.ndarray:
        return self.vectors[[self.row_of[self._key(q)] for q in queries]] @ self.names.T


def _acc1(linker, fold: tuple, prior: float | None = None, *, documents: bool = False, citation: float = 0.0) -> float:
    """Acc@1 of ``linker`` on one fold's queries as written (``prior`` None) or through ContextLinker
    (``documents``: short forms the abstract never defines read off its other mentions; ``citation``: bonus for
    the OMIM ids the abstract cites)."""
    from course_utils.ie import linking as L

    raw, exp, doc_exp, cited, gold, known = fold
    if prior is None:
        return L.accuracy_at_k(linker.rank(raw, k=1).ids, gold, 1)
    context = L.ContextLinker(linker, known_ids=known, prior=prior, citation=citation)
    variants = doc_exp if documents else exp
    ranking = context.rank(raw, k=1, variants=variants, cited=cited if citation else None)
    return L.accuracy_at_k(ranking.ids, gold, 1)


def main() -> int:
    """Print the cross-validated grid."""
    from course_utils.ie import linking as L
    from course_utils.ie.linking_data import (
        cited_omim_ids,
        document_folds,
        expand_abbreviations,
        expanded_mentions,
        normalize_name,
        read_disease_vocab,
        read_ncbi_disease,
        schwartz_hearst,
    )
    from course_utils.text.pretrained import embed_texts, load_encoder

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu",
                        help="where the encoders run: cpu (the recorded figures), cuda, cuda:1, mps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(os.environ.get("COURSE_REAL_DATA", "../shared/data"))
    vocab = read_disease_vocab(root / "disease_vocab")
    texts, train, _ = read_ncbi_disease(root / "ncbi_disease" / "NCBItrainset.txt")
    defined = {doc: schwartz_hearst(text) for doc, text in texts.items()}
    expanded = {id(m): expand_abbreviations(m.text, defined[m.doc_id]) for m in train}
    doc_expanded = {id(m): e for m, e in zip(train, expanded_mentions(train, texts))}  # + the document's mentions
    cited_in = {doc: cited_omim_ids(text) for doc, text in texts.items()}
    names = sorted({normalize_name(n) for n in vocab.names} | {normalize_name(m.text) for m in train}
                   | {normalize_name(e) for e in expanded.values()} | {normalize_name(e) for e in doc_expanded.values()})
    start = time.perf_counter()
    vectors = embed_texts(names, encoder=load_encoder("minilm", device=args.device), batch_size=128, max_length=25,
                          show_progress=False)
    print(f"embedded {len(names):,} names with the untrained MiniLM in {time.perf_counter() - start:.0f} s")
    row_of = {n: i for i, n in enumerate(names)}
    folds = document_folds(texts, train, args.seed)
    results: dict[str, list[float]] = defaultdict(list)
    for fold in (0, 1):
        listed, queries = folds[fold]
        rows = [(m.text, c) for m in listed for c in m.ids]
        dictionary = vocab.extended([n for n, _ in rows], [c for _, c in rows], "train mentions", first=True)
        known = {c for m in listed for c in m.ids}
        raw, exp, gold = [m.text for m in queries], [expanded[id(m)] for m in queries], [m.ids for m in queries]
        doc_exp, cited = [doc_expanded[id(m)] for m in queries], [cited_in[m.doc_id] for m in queries]
        tfidf = L.TfidfLinker(dictionary)
        dense = _CachedDense(dictionary, vectors, row_of)

        fold_data = (raw, exp, doc_exp, cited, gold, known)
        if fold == 0:
            print(f"fold 0: {sum(e != r for e, r in zip(exp, raw))} queries expanded by their abstract's definitions, "
                  f"{sum(d != e for d, e in zip(doc_exp, exp))} more by the document's other mentions; "
                  f"{sum(bool(c) for c in cited)} in abstracts citing an OMIM id")
        results["TF-IDF, as written"].append(_acc1(tfidf, fold_data))
        for b in (0.0, 0.05, 0.1, 0.2, 0.3):
            results[f"TF-IDF, better form, prior {b}"].append(_acc1(tfidf, fold_data, prior=b))
        for w in (0.0, 0.25, 0.5, 1.0):
            combined = L.CombinedLinker(dense, tfidf, w)
            results[f"MiniLM + {w} TF-IDF, as written"].append(_acc1(combined, fold_data))
            for b in (0.0, 0.05, 0.1, 0.2):
                results[f"MiniLM + {w} TF-IDF, better form, prior {b}"].append(_acc1(combined, fold_data, prior=b))
        # the document's own evidence, at the prior chosen above (0.1): undefined short forms, cited OMIM ids
        for label, linker in (("TF-IDF", tfidf), ("MiniLM + 0.25 TF-IDF", L.CombinedLinker(dense, tfidf, 0.25))):
            results[f"{label}, prior 0.1, + document short forms"].append(
                _acc1(linker, fold_data, prior=0.1, documents=True))
            for c in (0.05, 0.1, 0.2, 0.3, 0.5):
                results[f"{label}, prior 0.1, + document short forms, citation {c}"].append(
                    _acc1(linker, fold_data, prior=0.1, documents=True, citation=c))
    halves = [len({m.doc_id for m in listed}) for listed, _ in folds]
    print(f"two folds of {halves[0]} / {halves[1]} annotated training documents; Acc@1 (mean of folds)")
    for label, values in results.items():
        print(f"{label:45s} {np.mean(values):.3f}   folds {' '.join(f'{v:.3f}' for v in values)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
