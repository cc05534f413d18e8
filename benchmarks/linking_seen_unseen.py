"""Chapter 14 on real data: where Acc@1 is lost, split by whether a develop mention occurs among the training mentions.

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/linking_seen_unseen.py [--threads 2]

The primary dictionary holds the training mentions, so a develop mention written exactly as a training mention
(after normalisation) is found by any linker; its errors are annotation disagreements. The other mentions are
what an encoder has to earn. Prints Acc@1 of exact match, character TF-IDF and untrained MiniLM on both groups,
each also "+ context" (both forms of a mention, prior for training ids, bonus for OMIM ids the abstract cites:
``ContextLinker``); ``--encoder FOLDER``
adds an encoder saved by ``linking_ncbi.py --save-encoder`` (self-aligned), alone and + 0.25 TF-IDF.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch


def main() -> int:
    """Print the seen / unseen table."""
    from course_utils.ie import linking as L
    from course_utils.ie.linking_data import ncbi_task, normalize_name, read_ncbi_disease
    from course_utils.text.pretrained import load_encoder

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--abbreviations", action="store_true", help="expand short forms (default: as written)")
    parser.add_argument("--encoder", default=None, help="folder of a saved (self-aligned) encoder to add")
    parser.add_argument("--device", default="cpu",
                        help="where the encoders run: cpu (the recorded figures), cuda, cuda:1, mps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(os.environ.get("COURSE_REAL_DATA", "../shared/data")) / "ncbi_disease"
    task = ncbi_task(root / "NCBItrainset.txt", root / "NCBIdevelopset.txt", root.parent / "disease_vocab",
                     abbreviations=args.abbreviations)
    _, train, _ = read_ncbi_disease(root / "NCBItrainset.txt")
    known = {normalize_name(m.text) for m in train}
    if args.abbreviations:
        known |= {normalize_name(n) for n, src in zip(task.dictionary.names, task.dictionary.sources)
                  if src == "train mentions"}
    seen = np.array([normalize_name(q) in known for q in task.queries])
    print(task.description)
    print(f"develop mentions written as a training mention: {seen.sum()}; not: {(~seen).sum()}")
    start = time.perf_counter()
    dense = L.DenseLinker(task.dictionary, load_encoder("minilm", device=args.device), show_progress=False)
    print(f"embedded {len(task.dictionary):,} names in {time.perf_counter() - start:.0f} s")
    tfidf = L.TfidfLinker(task.dictionary)
    linkers = [("exact match", L.ExactMatchLinker(task.dictionary)), ("char 2-4-gram TF-IDF", tfidf),
               ("MiniLM untrained", dense), ("MiniLM untrained + 0.25 TF-IDF", L.CombinedLinker(dense, tfidf, 0.25))]
    if args.encoder:
        aligned = L.DenseLinker(task.dictionary, load_encoder(args.encoder, device=args.device), show_progress=False)
        linkers += [("self-aligned", aligned), ("self-aligned + 0.25 TF-IDF", L.CombinedLinker(aligned, tfidf, 0.25))]
    for name, linker in linkers:
        runs = [(name, linker.rank(list(task.queries), k=1).top1())]
        if hasattr(linker, "scores"):
            context = L.ContextLinker(linker, known_ids=task.known_ids)
            runs.append((f"{name} + context", context.rank(list(task.queries), k=1, variants=list(task.variants),
                                                           cited=list(task.cited)).top1()))
        for label, top in runs:
            ok = np.array([t in gold for t, gold in zip(top, task.gold)])
            print(f"{label:42s} Acc@1 all {ok.mean():.3f}   seen {ok[seen].mean():.3f}   unseen {ok[~seen].mean():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
