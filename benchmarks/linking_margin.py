"""Chapter 14 on real data: how sure is a margin? Document-bootstrap intervals for self-alignment's gain.

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/linking_margin.py --encoder LABEL=FOLDER ...
        [--fold-encoders FOLDER] [--threads 2] [--n-boot 2000]

The issue's goal is a margin: Acc@1 at least 0.03 above the best baseline. Develop has 787 mentions in 100
abstracts, and mentions of one abstract succeed or fail together (one disease named ten times, one short form
misread throughout), so this benchmark asks how far a margin measured there could move on another 100 abstracts.
For each encoder saved by ``linking_ncbi.py --save-encoder`` it links develop with the chapter's context linker
(dense + 0.25 TF-IDF over both forms of each mention, prior 0.1 for training ids, 0.1 for OMIM ids the abstract
cites), pairs every mention's outcome with the best baseline's (the untrained MiniLM in the same linker), and
prints the margin with a 95 % interval from resampling whole abstracts
(:func:`course_utils.ie.linking.document_bootstrap_margin`).

``--fold-encoders``: the folder written by ``linking_recipe_crossval.py --save FOLDER``; the two query halves of
the training documents (5,145 mentions, 592 abstracts; each half linked against the other half's dictionary by the
encoder self-aligned on that other half) are pooled and scored the same way.
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
    """Print margins with their intervals and write benchmarks/results/linking_margin.json."""
    from course_utils.ie import linking as L
    from course_utils.ie.linking_data import (
        document_folds,
        ncbi_task,
        read_disease_vocab,
        read_ncbi_disease,
        task_from_mentions,
    )
    from course_utils.text.pretrained import load_encoder

    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", action="append", default=[], metavar="LABEL=FOLDER",
                        help="a self-aligned encoder to score on develop (repeat for several)")
    parser.add_argument("--fold-encoders", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="document split of the folds (0: the benchmarks')")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--goal", type=float, default=0.03, help="the margin the issue asks for")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "linking_margin.json")
    parser.add_argument("--device", default="cpu",
                        help="where the encoders run: cpu (the recorded figures), cuda, cuda:1, mps")
    args = parser.parse_args()
    encoders = {}
    for item in args.encoder:
        label, sep, folder = item.partition("=")
        if not sep or not (Path(folder) / "config.json").is_file():
            raise SystemExit(f"--encoder {item!r}: expected LABEL=FOLDER with an encoder saved by linking_ncbi.py "
                             "--save-encoder (config.json) in FOLDER.")
        encoders[label] = Path(folder)
    if args.fold_encoders is not None:
        for fold in (0, 1):
            if not (args.fold_encoders / f"fold-{fold}" / "config.json").is_file():
                raise SystemExit(f"{args.fold_encoders / f'fold-{fold}'}: no saved encoder there; run "
                                 "linking_recipe_crossval.py --save FOLDER first.")
    if not encoders and args.fold_encoders is None:
        raise SystemExit("Nothing to score: give --encoder LABEL=FOLDER and/or --fold-encoders FOLDER.")
    torch.set_num_threads(args.threads)
    root = Path(os.environ.get("COURSE_REAL_DATA", "../shared/data"))
    t0 = time.perf_counter()
    untrained = load_encoder("minilm", device=args.device)

    def hits(task, tfidf, encoder) -> np.ndarray:
        linker = L.ContextLinker(L.CombinedLinker(L.DenseLinker(task.dictionary, encoder, show_progress=False),
                                                  tfidf, 0.25), known_ids=task.known_ids, prior=0.1, citation=0.1)
        ranking = linker.rank(list(task.queries), k=1, variants=list(task.variants), cited=list(task.cited))
        return L.hits_at_k(ranking.ids, task.gold, 1)

    results: dict[str, dict[str, float]] = {}

    def report(where: str, label: str, base: np.ndarray, tuned: np.ndarray, documents: list[str]) -> None:
        m = L.document_bootstrap_margin(base, tuned, documents, n_boot=args.n_boot)
        results[f"{where}: {label}"] = {"baseline acc1": float(base.mean()), "acc1": float(tuned.mean()),
                                        "margin": m.margin, "low": m.low, "high": m.high,
                                        "mentions": m.n_mentions, "documents": m.n_documents}
        print(f"{where:8s} {label:34s} Acc@1 {tuned.mean():.3f} vs baseline {base.mean():.3f}: margin "
              f"{m.margin:+.3f}, 95 % interval [{m.low:+.3f}, {m.high:+.3f}] over {m.n_documents} abstracts "
              f"({m.n_mentions} mentions); above 0: {'yes' if m.low > 0 else 'not shown'}; goal {args.goal:+.3f} "
              f"{'inside the interval' if m.low <= args.goal <= m.high else 'outside it'}",
              flush=True)

    if encoders:
        develop = ncbi_task(root / "ncbi_disease" / "NCBItrainset.txt", root / "ncbi_disease" / "NCBIdevelopset.txt",
                            root / "disease_vocab")
        _, mentions, _ = read_ncbi_disease(root / "ncbi_disease" / "NCBIdevelopset.txt")
        documents = [m.doc_id for m in mentions]
        assert len(documents) == len(develop.queries)
        tfidf = L.TfidfLinker(develop.dictionary)
        base = hits(develop, tfidf, untrained)
        for label, folder in encoders.items():
            report("develop", label, base, hits(develop, tfidf, load_encoder(str(folder), device=args.device)), documents)
    if args.fold_encoders is not None:
        vocab = read_disease_vocab(root / "disease_vocab")
        texts, train, _ = read_ncbi_disease(root / "ncbi_disease" / "NCBItrainset.txt")
        base_parts, tuned_parts, documents = [], [], []
        for fold, (listed, queries) in enumerate(document_folds(texts, train, args.seed)):
            task = task_from_mentions(texts, listed, texts, queries, vocab, name=f"fold {fold}")
            tfidf = L.TfidfLinker(task.dictionary)
            base_parts.append(hits(task, tfidf, untrained))
            tuned_parts.append(hits(task, tfidf, load_encoder(str(args.fold_encoders / f"fold-{fold}"), device=args.device)))
            documents += [m.doc_id for m in queries]
        report("folds", "fold encoders", np.concatenate(base_parts), np.concatenate(tuned_parts), documents)
    print(f"total {time.perf_counter() - t0:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"results": results, "settings": {k: str(v) for k, v in vars(args).items()}},
                                   indent=1) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
