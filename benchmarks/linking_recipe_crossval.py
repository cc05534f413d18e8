"""Chapter 14 on real data: the whole self-alignment recipe scored on held-out *training* documents.

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/linking_recipe_crossval.py [--threads 2]
        [--epochs 7] [--biored-extra] [--expanded-rows] [--folds 0 1] [--save FOLDER]

The develop figures of ``linking_ncbi.py`` were read many times while the recipe was built, and its epoch
count was picked after seeing them. This benchmark asks the same questions where develop is never read: the
NCBI-disease training documents are split in two (seeded, by document, the split of
``linking_context_crossval.py``); one half is the dictionary's annotated mentions and the self-alignment data,
the other half the queries; then the halves swap. Per fold it prints, through ``ContextLinker`` (both forms of a
mention, prior 0.1 for the dictionary half's ids, 0.1 for OMIM ids the abstract cites):

* the baselines: character TF-IDF and the untrained MiniLM + 0.25 TF-IDF;
* MiniLM self-aligned on the dictionary half (``--biored-extra``: + BioRED Train/Dev disease mentions, documents
  of the query half and of develop left out; ``--expanded-rows``: + the half's mentions as their abstracts expand
  them), alone and + 0.25 TF-IDF, after each epoch in ``--report-epochs``; ``--wise 0.5 ...`` also scores its
  weights averaged with the untrained encoder's (alpha x self-aligned + (1 - alpha) x untrained).

So it gives the margin of self-alignment over the best baseline on documents no choice was made on, and the
epoch count that cross-validation (rather than develop) would pick.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import torch


def main() -> int:
    """Print the per-epoch table and write benchmarks/results/linking_recipe_crossval.json."""
    from course_utils.ie import linking as L
    from course_utils.ie.linking_data import (
        biored_training_rows,
        document_folds,
        extended_training_rows,
        read_disease_vocab,
        read_ncbi_disease,
        task_from_mentions,
    )
    from course_utils.ie.self_align import SelfAlignSettings, average_weights, save_encoder, self_align
    from course_utils.text.pretrained import load_encoder

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="document split (0: the context cross-validation's)")
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--report-epochs", type=int, nargs="+", default=[1, 3, 5, 7])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--dictionary-negatives", type=int, default=5)
    parser.add_argument("--biored-extra", action="store_true")
    parser.add_argument("--expanded-rows", action="store_true")
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--wise", type=float, nargs="*", default=[],
                        help="also score the weights averaged with the untrained encoder's, alpha x self-aligned + "
                             "(1 - alpha) x untrained (WiSE-FT), for each alpha given")
    parser.add_argument("--save", type=Path, default=None,
                        help="save each fold's encoder after the last epoch to SAVE/fold-N (for linking_rerank.py)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "linking_recipe_crossval.json")
    parser.add_argument("--device", default="cpu",
                        help="where the encoders run: cpu (the recorded figures), cuda, cuda:1, mps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(os.environ.get("COURSE_REAL_DATA", "../shared/data"))
    t0 = time.perf_counter()
    vocab = read_disease_vocab(root / "disease_vocab")
    texts, train, _ = read_ncbi_disease(root / "ncbi_disease" / "NCBItrainset.txt")
    develop_texts, _, _ = read_ncbi_disease(root / "ncbi_disease" / "NCBIdevelopset.txt")
    folds = document_folds(texts, train, args.seed)
    results: dict[str, dict[str, float]] = {}

    def record(fold: int, label: str, linker, task) -> None:
        context = L.ContextLinker(linker, known_ids=task.known_ids, prior=0.1, citation=0.1)
        scores = L.evaluate(context, list(task.queries), list(task.gold), variants=list(task.variants),
                            cited=list(task.cited))
        results.setdefault(label, {})[f"fold {fold}"] = scores.acc1
        print(f"fold {fold}  {label:50s} Acc@1 {scores.acc1:.3f}  Acc@5 {scores.acc5:.3f}", flush=True)

    for fold in args.folds:
        listed, queries = folds[fold]
        task = task_from_mentions(texts, listed, texts, queries, vocab, name=f"fold {fold}",
                                  test_label=f"fold {fold}'s query half")
        print(task.description, flush=True)
        tfidf = L.TfidfLinker(task.dictionary)
        record(fold, "char TF-IDF + context", tfidf, task)
        encoder = load_encoder("minilm", device=args.device)
        record(fold, "MiniLM untrained + 0.25 TF-IDF + context",
               L.CombinedLinker(L.DenseLinker(task.dictionary, encoder, show_progress=False), tfidf, 0.25), task)
        other_forms = task_from_mentions(texts, listed, texts, queries, vocab, abbreviations=True).train_rows \
            if args.expanded_rows else ()
        extra = biored_training_rows(root / "biored", root / "ncbi_disease",  # NCBI develop and test left out
                                     also_exclude={m.doc_id for m in queries})[0] if args.biored_extra else ()
        rows = extended_training_rows(task.train_rows, other_forms=other_forms, extra=extra, vocabulary=vocab)
        print(f"fold {fold}: {len(rows):,} self-alignment rows", flush=True)

        base_model = load_encoder("minilm", device=args.device)[1] if args.wise else None

        def score(epoch: int, fold: int = fold, task=task, tfidf=tfidf, encoder=encoder, base_model=base_model) -> None:
            if epoch not in args.report_epochs:
                return
            dense = L.DenseLinker(task.dictionary, encoder, show_progress=False)
            record(fold, f"self-aligned, epoch {epoch} + context", dense, task)
            record(fold, f"self-aligned, epoch {epoch} + 0.25 TF-IDF + context", L.CombinedLinker(dense, tfidf, 0.25),
                   task)
            for alpha in args.wise:
                mixed = (encoder[0], average_weights(copy.deepcopy(encoder[1]), base_model, alpha))
                dense = L.DenseLinker(task.dictionary, mixed, show_progress=False)
                record(fold, f"self-aligned, epoch {epoch}, weights x {alpha} + context", dense, task)
                record(fold, f"self-aligned, epoch {epoch}, weights x {alpha} + 0.25 TF-IDF + context",
                       L.CombinedLinker(dense, tfidf, 0.25), task)

        settings = SelfAlignSettings(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                                     dictionary_negatives=args.dictionary_negatives)
        history = self_align(encoder, rows, settings, dictionary=task.dictionary, on_epoch_end=score)
        print(f"fold {fold}: {history.steps} steps, {history.seconds:.0f} s of training", flush=True)
        results.setdefault("training seconds", {})[f"fold {fold}"] = history.seconds
        if args.save is not None:
            print(f"fold {fold}: encoder saved to {save_encoder(encoder, args.save / f'fold-{fold}')}", flush=True)
    print("\nAcc@1, mean of folds")
    for label, by_fold in results.items():
        if label != "training seconds":
            print(f"{label:55s} {np.mean(list(by_fold.values())):.3f}   "
                  + "  ".join(f"{k} {v:.3f}" for k, v in by_fold.items()))
    out = {"results": results, "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
           "total_s": time.perf_counter() - t0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"total {out['total_s']:.0f} s; written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
