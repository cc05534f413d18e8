"""Chapter 12 real-data benchmark: a named recipe on the Ruijin split, chosen on validation, scored on test.

Two steps, each writing a committed record (``course_utils.records``) with counts and scores only (the corpus
has no stated licence: no text is printed or stored):

1. ``--select R1 R2 ...`` trains each candidate recipe (first seed) on the committed split's 262 training
   documents, early-stopping on the 33 validation documents, and scores the VALIDATION documents with the
   test's own document-level scorer (exact span + type on the original brat offsets, every gold entity
   counted). The best validation micro-F1 is the chosen recipe. Record ``ch12.ruijin_selection``.
2. The chosen recipe (or ``--recipe NAME`` without ``--select``) is trained once per seed (``--seeds``, at
   least three for a figure) and each model scores the 32 test documents once: mean, spread and a
   document-level bootstrap interval of the seed-mean micro-F1. Record ``ch12.ruijin_bilstm_crf``.
   ``--select-only`` stops after step 1. After ``--select`` the chosen recipe's first-seed model is the one
   step 1 trained (same recipe, seed and data), scored on test without training it again.

The recipes live in ``course_utils.ie.ner_zh.RECIPES``; the train command's ``--recipe NAME`` trains the same
model through the same function (``train_recipe``). Options such as ``--lstm-hidden`` override one field of
the recipe, as on the command. Goal: micro-F1 >= 0.70 within 30 minutes on 2 CPU cores.

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/ch12_ruijin.py --threads 2 \\
        --select ruijin-run5 ruijin-run6 ruijin-run7 --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

import common  # benchmarks/common.py: the script's own folder is on sys.path
import torch
from common import start_run, write_record
from course_utils.ie.ner_zh import (
    add_recipe_arguments,
    bootstrap_micro_f1,
    document_counts,
    evaluate_documents,
    load_split,
    recipe,
    recipe_from_args,
    train_recipe,
)

from course_utils.ie.bio import EncodeStats, encode_document
from course_utils.ie.brat import corpus_counts, read_folder


def build_parser() -> argparse.ArgumentParser:
    """Return the benchmark's parser (the recipe options are the train command's own)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="Ruijin folder (default: $COURSE_REAL_DATA/ruijin_diabetes)")
    common.add_common(parser, threads=2, seeds=[1, 2, 3],
                      seed_help="one training run per seed on test (at least 3 for a reported figure)")
    parser.add_argument("--select", nargs="+", default=None, metavar="RECIPE",
                        help="candidate recipes: each trained once (first seed) and scored on the validation "
                             "documents; the best goes on to test")
    parser.add_argument("--select-only", action="store_true", help="stop after choosing on validation")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap replicates over test documents")
    parser.add_argument("--no-record", action="store_true", help="print only (a trial run: no record written)")
    add_recipe_arguments(parser, default="ruijin-run7")
    return parser


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    root = Path(args.data or Path(os.environ.get("COURSE_REAL_DATA", "../shared/data")) / "ruijin_diabetes")
    corpus = read_folder(root)
    counts = corpus_counts(corpus)
    print("reader counts (no text):", {k: counts[k] for k in ("documents", "characters", "entities", "problems")})
    kept, lost = EncodeStats(), EncodeStats()
    for doc in corpus.documents:
        kept.add(encode_document(doc).stats)
        lost.add(encode_document(doc, remove_breaks=False).stats)
    print(f"BIO without line-break removal: {lost.discontinuous} of {lost.total} entities lost; with removal: "
          f"{kept.discontinuous}; nested dropped {kept.nested}, crossing dropped {kept.crossing}, kept {kept.kept}")
    split = load_split()
    train_docs, val_docs, test_docs = (corpus.subset(split[k]).documents for k in ("train", "val", "test"))
    print(f"split: {len(train_docs)} train / {len(val_docs)} val / {len(test_docs)} test documents")

    name, chosen = recipe_from_args(args)
    # the chosen candidate's first-seed model is the model the test step would train for that seed (same recipe,
    # seed and data): it is scored on test instead of being trained again (wall-capped training would not repeat
    # it exactly anyway); the others are dropped once chosen
    selection_runs: dict = {}
    if args.select:
        # each candidate with the same overriding options as --recipe would get (a trial run shortens them all)
        candidates = {c: recipe_from_args(argparse.Namespace(**{**vars(args), "recipe": recipe(c) and c}))[1]
                      for c in args.select}
        run = start_run("ch12.ruijin_selection", seeds=args.seeds[:1], threads=args.threads,
                        settings={"candidates": {c: r.settings() for c, r in candidates.items()},
                                  "scored_on": "validation documents (33), document-level exact span + type"})
        validation, times = {}, {}
        for cand, cand_recipe in candidates.items():
            wall, cpu = time.perf_counter(), cpu_seconds()
            trained = train_recipe(cand_recipe, train_docs, val_docs, seed=args.seeds[0], show_progress=False,
                                   say=print)
            evaluation = evaluate_documents(trained.model, trained.vocab, val_docs, max_length=cand_recipe.max_length,
                                            stride=cand_recipe.stride)
            validation[cand] = {"micro_f1": evaluation.scores.micro_f1, "macro_f1": evaluation.scores.macro_f1,
                                "best_epoch": trained.result.best_epoch, "stopped": trained.result.stopped,
                                "best_val_chunk_f1": trained.result.best_val_f1}
            times[f"{cand}_wall"] = time.perf_counter() - wall
            times[f"{cand}_cpu"] = cpu_seconds() - cpu
            selection_runs[cand] = (trained, times[f"{cand}_wall"], times[f"{cand}_cpu"])
            print(f"{cand}: VALIDATION micro-F1 {evaluation.scores.micro_f1:.4f} (macro "
                  f"{evaluation.scores.macro_f1:.4f}), {times[f'{cand}_wall'] / 60:.1f} min wall, "
                  f"{times[f'{cand}_cpu'] / 60:.1f} min CPU", flush=True)
        best = max(validation, key=lambda c: validation[c]["micro_f1"])
        print(f"chosen on validation: {best}")
        if not args.no_record:
            print("record:", write_record(run, figures={"validation": validation, "chosen": best},
                                          data={"ruijin_diabetes": root}, times=times))
        if args.select_only:
            return
        name, chosen = best, candidates[best]
        selection_runs = {best: selection_runs[best]}

    run = start_run("ch12.ruijin_bilstm_crf", seeds=args.seeds, threads=args.threads,
                    settings={"recipe": name, **chosen.settings(),
                              "scored_on": "test documents (32), document-level exact span + type, once per seed"})
    per_seed, doc_counts, times = {}, [], {}
    reused = None
    for seed in args.seeds:
        wall, cpu = time.perf_counter(), cpu_seconds()
        if seed == args.seeds[0] and name in selection_runs:
            trained, train_wall, train_cpu = selection_runs.pop(name)
            reused, wall, cpu = seed, wall - train_wall, cpu - train_cpu  # its clock includes its training
            print(f"seed {seed}: the model trained for the selection (same recipe, seed and data)", flush=True)
        else:
            trained = train_recipe(chosen, train_docs, val_docs, seed=seed, show_progress=False, say=print)
        evaluation = evaluate_documents(trained.model, trained.vocab, test_docs, max_length=chosen.max_length,
                                        stride=chosen.stride)
        doc_counts.append(document_counts(test_docs, evaluation.entities))
        s = evaluation.scores
        per_seed[str(seed)] = {"micro_f1": s.micro_f1, "macro_f1": s.macro_f1, "precision": s.micro.precision,
                               "recall": s.micro.recall, "token_accuracy": evaluation.token_accuracy,
                               "errors": evaluation.errors, "best_epoch": trained.result.best_epoch,
                               "stopped": trained.result.stopped, "best_val_chunk_f1": trained.result.best_val_f1,
                               "per_type_f1": {t: v.f1 for t, v in s.per_type.items()}}
        times[f"seed{seed}_wall"] = time.perf_counter() - wall
        times[f"seed{seed}_cpu"] = cpu_seconds() - cpu
        print(f"seed {seed}: TEST micro-F1 {s.micro_f1:.4f} macro-F1 {s.macro_f1:.4f}; "
              f"{times[f'seed{seed}_wall'] / 60:.1f} min wall, {times[f'seed{seed}_cpu'] / 60:.1f} min CPU",
              flush=True)
    micro = [v["micro_f1"] for v in per_seed.values()]
    mean, low, high = bootstrap_micro_f1(doc_counts, replicates=args.bootstrap)
    figures = {"recipe": name, "per_seed": per_seed, "micro_f1_mean": mean,
               "micro_f1_sd": statistics.stdev(micro) if len(micro) > 1 else None,
               "micro_f1_min": min(micro), "micro_f1_max": max(micro),
               "micro_f1_bootstrap_95": [low, high], "bootstrap_replicates": args.bootstrap,
               "macro_f1_mean": statistics.mean(v["macro_f1"] for v in per_seed.values()),
               "goal_mean_at_least_0_70": mean >= 0.70 if len(micro) >= 3 else None,
               "seed_model_from_selection": reused}
    print(f"TEST micro-F1 over seeds {args.seeds}: mean {mean:.4f}, range {min(micro):.4f}-{max(micro):.4f}, "
          f"document bootstrap 95 % [{low:.4f}, {high:.4f}]")
    if not args.no_record:
        print("record:", write_record(run, figures=figures, data={"ruijin_diabetes": root}, times=times))


if __name__ == "__main__":
    main()
