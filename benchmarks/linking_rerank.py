"""Chapter 14 on real data: a learned reranker over the top 10 candidates, cross-fitted on training documents.

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/linking_rerank.py --fold-encoders FOLDER
        --encoder FOLDER [--threads 2]

``--fold-encoders``: the folder written by ``linking_recipe_crossval.py --save FOLDER`` (``fold-0``, ``fold-1``:
MiniLM self-aligned on each half of the NCBI-disease training documents); ``--encoder``: MiniLM self-aligned on
all training documents (``linking_ncbi.py --save-encoder``), scored on develop.

The first stage is the chapter's context linker (dense + 0.25 TF-IDF over both forms, prior 0.1, citation 0.1);
:class:`course_utils.ie.rerank.CandidateReranker` reorders its top 10 ids. It learns only from training
documents: on the folds, the reranker scoring one half's mentions was fitted on the other half's (each half's
mentions linked against the other half's dictionary, by that half's self-aligned encoder); on develop, it was
fitted on both halves. Three systems, each with and without the reranker:

* baseline: untrained MiniLM (the best baseline of ``linking_ncbi.py``);
* self-aligned: the self-aligned encoder;
* self-aligned + reference: the self-aligned encoder, with the untrained encoder's cosines as two more features.

Acc@1 and Acc@5 (lenient) per fold and on develop, and the candidates' recall (the reranker's ceiling); then the
margins of the self-aligned systems over the baselines, with 95 % intervals from resampling whole abstracts
(:func:`course_utils.ie.linking.document_bootstrap_margin`; the folds' two query halves pooled).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch


def main() -> int:
    """Print the table and write benchmarks/results/linking_rerank.json."""
    from course_utils.ie import linking as L
    from course_utils.ie.linking_data import (
        document_folds,
        ncbi_task,
        read_disease_vocab,
        read_ncbi_disease,
        task_from_mentions,
    )
    from course_utils.ie.rerank import CandidateReranker, candidate_features
    from course_utils.text.pretrained import load_encoder

    parser = argparse.ArgumentParser()
    parser.add_argument("--fold-encoders", type=Path, required=True)
    parser.add_argument("--encoder", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="document split (0: the recipe cross-validation's)")
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "linking_rerank.json")
    parser.add_argument("--device", default="cpu",
                        help="where the encoders run: cpu (the recorded figures), cuda, cuda:1, mps")
    args = parser.parse_args()
    for folder in (args.fold_encoders / "fold-0", args.fold_encoders / "fold-1", args.encoder):
        if not (folder / "config.json").is_file():
            raise SystemExit(f"{folder}: no saved encoder there (config.json missing). Run linking_recipe_crossval.py "
                             "--save FOLDER and linking_ncbi.py --save-encoder FOLDER first.")
    torch.set_num_threads(args.threads)
    root = Path(os.environ.get("COURSE_REAL_DATA", "../shared/data"))
    t0 = time.perf_counter()
    vocab = read_disease_vocab(root / "disease_vocab")
    texts, train, _ = read_ncbi_disease(root / "ncbi_disease" / "NCBItrainset.txt")
    halves = document_folds(texts, train, args.seed)
    untrained = load_encoder("minilm", device=args.device)
    systems = ("baseline", "self-aligned", "self-aligned + reference")

    def candidates(task, encoder) -> dict[str, object]:
        start = time.perf_counter()
        tfidf = L.TfidfLinker(task.dictionary)
        base = L.DenseLinker(task.dictionary, untrained, show_progress=False)
        tuned = L.DenseLinker(task.dictionary, encoder, show_progress=False)
        common = dict(variants=list(task.variants), cited=list(task.cited), known_ids=task.known_ids,
                      gold=list(task.gold), n_candidates=args.candidates)
        out = {"baseline": candidate_features(list(task.queries), base, tfidf, **common),
               "self-aligned": candidate_features(list(task.queries), tuned, tfidf, **common),
               "self-aligned + reference": candidate_features(list(task.queries), tuned, tfidf, reference=base,
                                                              **common)}
        print(f"{task.name}: candidates in {time.perf_counter() - start:.0f} s", flush=True)
        return out

    folds = []
    for fold in (0, 1):
        listed, queries = halves[fold]
        task = task_from_mentions(texts, listed, texts, queries, vocab, name=f"fold {fold}")
        folds.append(candidates(task, load_encoder(str(args.fold_encoders / f"fold-{fold}"), device=args.device)))
    develop = ncbi_task(root / "ncbi_disease" / "NCBItrainset.txt", root / "ncbi_disease" / "NCBIdevelopset.txt",
                        root / "disease_vocab")
    develop_sets = candidates(develop, load_encoder(str(args.encoder), device=args.device))

    def gold_of(sets) -> list[tuple[str, ...]]:
        return [tuple(c for c, g in zip(cids, lab) if g) or ("-",) for cids, lab in zip(sets.ids, sets.labels)]

    def scores(ids, sets) -> dict[str, float]:
        gold = gold_of(sets)
        return {"acc1": L.accuracy_at_k(ids, gold, 1), "acc5": L.accuracy_at_k(ids, gold, 5)}

    results: dict[str, dict[str, dict[str, float]]] = {}
    hits: dict[str, dict[str, np.ndarray]] = {}  # per system: each mention right at rank 1, folds pooled and develop
    for system in systems:
        for reranked in (False, True):
            label = f"{system}{' + reranker' if reranked else ''}"
            row: dict[str, dict[str, float]] = {}
            fold_hits = []
            for fold in (0, 1):
                sets = folds[fold][system]
                ids = CandidateReranker().fit(folds[1 - fold][system]).rank(sets).ids if reranked else sets.ids
                row[f"fold {fold}"] = scores(ids, sets) | {"recall": sets.recall()}
                fold_hits.append(L.hits_at_k(ids, gold_of(sets), 1))
            sets = develop_sets[system]
            ids = CandidateReranker().fit(folds[0][system], folds[1][system]).rank(sets).ids if reranked else sets.ids
            row["develop"] = scores(ids, sets) | {"recall": sets.recall()}
            hits[label] = {"folds": np.concatenate(fold_hits), "develop": L.hits_at_k(ids, gold_of(sets), 1)}
            results[label] = row
            mean = np.mean([row[f"fold {f}"]["acc1"] for f in (0, 1)])
            print(f"{label:42s} folds Acc@1 {mean:.3f} ({row['fold 0']['acc1']:.3f} / {row['fold 1']['acc1']:.3f})  "
                  f"develop Acc@1 {row['develop']['acc1']:.3f} Acc@5 {row['develop']['acc5']:.3f}  "
                  f"recall@{args.candidates} {row['develop']['recall']:.3f}", flush=True)
    # How sure are the margins? Paired intervals from resampling whole abstracts (document_bootstrap_margin).
    _, develop_mentions, _ = read_ncbi_disease(root / "ncbi_disease" / "NCBIdevelopset.txt")
    documents = {"folds": [m.doc_id for fold in (0, 1) for m in halves[fold][1]],
                 "develop": [m.doc_id for m in develop_mentions]}
    margins: dict[str, dict[str, float]] = {}
    for better, worse in (("self-aligned", "baseline"), ("self-aligned + reranker", "baseline + reranker"),
                          ("self-aligned + reference + reranker", "baseline + reranker"),
                          ("self-aligned + reference + reranker", "baseline")):
        for where in ("folds", "develop"):
            m = L.document_bootstrap_margin(hits[worse][where], hits[better][where], documents[where])
            margins[f"{better} over {worse}, {where}"] = {"margin": m.margin, "low": m.low, "high": m.high,
                                                          "documents": m.n_documents, "mentions": m.n_mentions}
            print(f"{better} over {worse}, {where}{' (pooled)' if where == 'folds' else ''}: {m.margin:+.3f}, "
                  f"95 % interval [{m.low:+.3f}, {m.high:+.3f}] over {m.n_documents} abstracts", flush=True)
    out = {"results": results, "margins": margins, "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
           "total_s": time.perf_counter() - t0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"total {out['total_s']:.0f} s; written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
