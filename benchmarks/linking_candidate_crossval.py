"""Chapter 14 on real data: BioSyn's candidate loss after self-alignment, scored on held-out training documents.

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/linking_candidate_crossval.py --fold-encoders FOLDER
        [--epochs 2] [--lr 2e-5] [--temperature 0.05] [--biored-extra] [--threads 2] [--save FOLDER]

``--fold-encoders``: the folder written by ``linking_recipe_crossval.py --save FOLDER`` (MiniLM self-aligned on
each half of the NCBI-disease training documents). Each fold's encoder is trained further with
:func:`course_utils.ie.self_align.candidate_align` on its own half's mentions (as written, and as their
abstracts expand them; ``--biored-extra``: + BioRED Train/Dev disease mentions, documents of the query half and
of develop left out), against that half's dictionary, and after each epoch the other half is linked as in
``linking_recipe_crossval.py`` (dense + 0.25 TF-IDF + context). Develop is never read. Compare with that
benchmark's rows for the self-aligned encoder at the start (epoch 0 here).
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
    """Print Acc@1 per fold and epoch; write benchmarks/results/linking_candidate_crossval.json."""
    from course_utils.ie import linking as L
    from course_utils.ie.linking_data import (
        biored_training_rows,
        document_folds,
        expanded_mentions,
        read_disease_vocab,
        read_ncbi_disease,
        task_from_mentions,
    )
    from course_utils.ie.self_align import CandidateSettings, candidate_align, save_encoder
    from course_utils.text.pretrained import load_encoder

    parser = argparse.ArgumentParser()
    parser.add_argument("--fold-encoders", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--biored-extra", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="document split (0: the recipe cross-validation's)")
    parser.add_argument("--save", type=Path, default=None,
                        help="save each fold's encoder after the last epoch to SAVE/fold-N (for linking_rerank.py)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).with_name("results") / "linking_candidate_crossval.json")
    parser.add_argument("--device", default="cpu",
                        help="where the encoders run: cpu (the recorded figures), cuda, cuda:1, mps")
    args = parser.parse_args()
    for fold in (0, 1):
        if not (args.fold_encoders / f"fold-{fold}" / "config.json").is_file():
            raise SystemExit(f"{args.fold_encoders / f'fold-{fold}'}: no saved encoder there. Run "
                             "linking_recipe_crossval.py --save FOLDER first.")
    torch.set_num_threads(args.threads)
    root = Path(os.environ.get("COURSE_REAL_DATA", "../shared/data"))
    t0 = time.perf_counter()
    vocab = read_disease_vocab(root / "disease_vocab")
    texts, train, _ = read_ncbi_disease(root / "ncbi_disease" / "NCBItrainset.txt")
    develop_texts, _, _ = read_ncbi_disease(root / "ncbi_disease" / "NCBIdevelopset.txt")
    folds = document_folds(texts, train, args.seed)
    results: dict[str, dict[str, float]] = {}
    for fold in (0, 1):
        listed, queries = folds[fold]
        task = task_from_mentions(texts, listed, texts, queries, vocab, name=f"fold {fold}")
        rows = [(m.text, m.ids[0]) for m in listed if len(m.ids) == 1]
        rows += [(e, m.ids[0]) for e, m in zip(expanded_mentions(listed, texts), listed)
                 if len(m.ids) == 1 and e != m.text]
        if args.biored_extra:
            rows += biored_training_rows(root / "biored", root / "ncbi_disease",  # NCBI develop and test left out
                                         also_exclude={m.doc_id for m in queries})[0]
        encoder = load_encoder(str(args.fold_encoders / f"fold-{fold}"), device=args.device)
        tfidf = L.TfidfLinker(task.dictionary)

        def score(epoch: int, fold: int = fold, task=task, tfidf=tfidf, encoder=encoder) -> None:
            dense = L.DenseLinker(task.dictionary, encoder, show_progress=False)
            context = L.ContextLinker(L.CombinedLinker(dense, tfidf, 0.25), known_ids=task.known_ids, prior=0.1,
                                      citation=0.1)
            acc = L.evaluate(context, list(task.queries), list(task.gold), variants=list(task.variants),
                             cited=list(task.cited))
            results.setdefault(f"epoch {epoch}", {})[f"fold {fold}"] = acc.acc1
            print(f"fold {fold}  epoch {epoch}  self-aligned + candidate loss + 0.25 TF-IDF + context  "
                  f"Acc@1 {acc.acc1:.3f}  Acc@5 {acc.acc5:.3f}", flush=True)

        score(0)
        settings = CandidateSettings(epochs=args.epochs, learning_rate=args.lr, temperature=args.temperature,
                                     candidates=args.candidates)
        history = candidate_align(encoder, rows, task.dictionary, settings, on_epoch_end=score)
        print(f"fold {fold}: {len(rows):,} query rows, {history.steps} steps, {history.seconds:.0f} s, loss "
              f"{np.mean(history.losses[:20]):.3f} -> {np.mean(history.losses[-20:]):.3f}", flush=True)
        results.setdefault("training seconds", {})[f"fold {fold}"] = history.seconds
        if args.save is not None:
            print(f"fold {fold}: encoder saved to {save_encoder(encoder, args.save / f'fold-{fold}')}", flush=True)
    print("\nAcc@1, mean of folds")
    for label, by_fold in results.items():
        if label != "training seconds":
            print(f"{label:10s} {np.mean(list(by_fold.values())):.3f}   "
                  + "  ".join(f"{k} {v:.3f}" for k, v in by_fold.items()))
    out = {"results": results, "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
           "total_s": time.perf_counter() - t0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"total {out['total_s']:.0f} s; written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
