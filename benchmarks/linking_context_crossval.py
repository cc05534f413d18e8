"""Chapter 14 on real data: choose ContextLinker's prior and the TF-IDF weight on training documents only.

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/linking_context_crossval.py [--threads 2]

Two-fold cross-validation over the NCBI-disease *training* documents (split by document, seeded): one half's
mentions join the MeSH/OMIM vocabulary as dictionary rows (training mentions first, as in ``ncbi_task``), the
other half's mentions are the queries, with the ids of the first half as the "known ids"; then the halves swap.
For character TF-IDF and the untrained MiniLM (+ w x TF-IDF) it prints Acc@1 as written, with the better of the
two forms of each mention (as written, abbreviations of its abstract expanded) and with a prior b for known
ids. The develop set is never read: the values chosen here (w = 0.25, b = 0.1) are what the develop benchmark
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


def main() -> int:
    """Print the cross-validated grid."""
    from course_utils.ie import linking as L
    from course_utils.ie.linking_data import (
        expand_abbreviations,
        normalize_name,
        read_disease_vocab,
        read_ncbi_disease,
        schwartz_hearst,
    )
    from course_utils.text.pretrained import embed_texts, load_encoder

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(os.environ.get("COURSE_REAL_DATA", "../shared/data"))
    vocab = read_disease_vocab(root / "disease_vocab")
    texts, train, _ = read_ncbi_disease(root / "ncbi_disease" / "NCBItrainset.txt")
    defined = {doc: schwartz_hearst(text) for doc, text in texts.items()}
    expanded = {id(m): expand_abbreviations(m.text, defined[m.doc_id]) for m in train}
    names = sorted({normalize_name(n) for n in vocab.names} | {normalize_name(m.text) for m in train}
                   | {normalize_name(e) for e in expanded.values()})
    start = time.perf_counter()
    vectors = embed_texts(names, encoder=load_encoder("minilm", device="cpu"), batch_size=128, max_length=25,
                          show_progress=False)
    print(f"embedded {len(names):,} names with the untrained MiniLM in {time.perf_counter() - start:.0f} s")
    row_of = {n: i for i, n in enumerate(names)}
    docs = sorted(texts)
    np.random.default_rng(args.seed).shuffle(docs)
    first_half = set(docs[:len(docs) // 2])
    results: dict[str, list[float]] = defaultdict(list)
    for fold in (0, 1):
        listed = [m for m in train if (m.doc_id in first_half) == (fold == 0)]
        queries = [m for m in train if (m.doc_id in first_half) != (fold == 0)]
        rows = [(m.text, c) for m in listed for c in m.ids]
        dictionary = vocab.extended([n for n, _ in rows], [c for _, c in rows], "train mentions", first=True)
        ids = np.array(dictionary.ids)
        known = {c for m in listed for c in m.ids}
        bonus = np.array([c in known for c in dictionary.ids], dtype=np.float32)
        raw, exp, gold = [m.text for m in queries], [expanded[id(m)] for m in queries], [m.ids for m in queries]
        tfidf = L.TfidfLinker(dictionary)
        t_raw, t_exp = tfidf.scores(raw), tfidf.scores(exp)
        name_vecs = vectors[[row_of[normalize_name(n)] for n in dictionary.names]]
        d_raw = vectors[[row_of[normalize_name(q)] for q in raw]] @ name_vecs.T
        d_exp = vectors[[row_of[normalize_name(q)] for q in exp]] @ name_vecs.T

        def acc1(scores: np.ndarray, ids: np.ndarray = ids, gold: list = gold) -> float:
            return float(np.mean([t in g for t, g in zip(ids[scores.argmax(1)], gold)]))

        results["TF-IDF, as written"].append(acc1(t_raw))
        for b in (0.0, 0.05, 0.1, 0.2, 0.3):
            results[f"TF-IDF, better form, prior {b}"].append(acc1(np.maximum(t_raw, t_exp) + b * bonus))
        for w in (0.0, 0.25, 0.5, 1.0):
            results[f"MiniLM + {w} TF-IDF, as written"].append(acc1(d_raw + w * t_raw))
            for b in (0.0, 0.05, 0.1, 0.2):
                results[f"MiniLM + {w} TF-IDF, better form, prior {b}"].append(
                    acc1(np.maximum(d_raw + w * t_raw, d_exp + w * t_exp) + b * bonus))
    print(f"two folds of {len(first_half)} / {len(docs) - len(first_half)} training documents; Acc@1 (mean of folds)")
    for label, values in results.items():
        print(f"{label:45s} {np.mean(values):.3f}   folds {' '.join(f'{v:.3f}' for v in values)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
