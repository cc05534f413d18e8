"""Chapter 14 on real data: NCBI-disease develop linked to MeSH/OMIM names, baselines and self-alignment.

Run (from the repository root, real data in COURSE_REAL_DATA):

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/linking_ncbi.py [--biored-extra] [--baselines-only]

Develop is a **tuning set** here: this script has been run on it many times while the recipe was built. The
figure that says what self-alignment adds comes from the training folds (``linking_protocol.py``), which choose
every knob, and the fold-chosen recipe is scored on develop once, with three seeds.

Protocol (BioSyn / SapBERT): the dictionary is the disease vocabulary plus the training mentions (primary); the
vocabulary alone is also reported. With ``--biored-extra`` the 4,548-odd BioRED Train + Dev disease mentions
(every NCBI-disease develop and test abstract left out: ``biored_training_rows``) go into the self-alignment data
*and into every linker's dictionary*, baselines included: the baselines get the data the method gets. Each linker
is a named recipe of :data:`course_utils.ie.linking.RECIPES`, the one ``python -m course_utils.ie.linking link
--recipe NAME`` builds: ``tfidf+context`` is the best baseline, ``dense+tfidf+context`` the self-aligned row (TF-IDF
weight 0.25, prior and citation 0.1, all chosen on training folds). Lenient rule: any gold id; strict: composites
split, every gold id found. The self-aligned encoder is MiniLM fine-tuned with SapBERT's miner and loss on
NCBI-disease training mentions paired with the names of their ids (supervised fine-tuning, not UMLS pretraining).
Writes the record ``benchmarks/results/<--record>.json`` (course_utils.records).
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import torch


def main() -> int:
    """Print the table and write the record."""
    from course_utils.ie import linking as L
    from course_utils.ie.linking_data import (
        biored_training_rows,
        expanded_mentions,
        extended_training_rows,
        ncbi_task,
        read_disease_vocab,
        read_ncbi_disease,
    )
    from course_utils.ie.self_align import (
        CandidateSettings,
        SelfAlignSettings,
        average_weights,
        candidate_align,
        self_align,
    )
    from course_utils.records import start_run, write_record
    from course_utils.text.pretrained import load_encoder

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--record", default="ch14.linking_ncbi", help="name of the record written")
    parser.add_argument("--skip-baselines", action="store_true", help="only the self-aligned rows")
    parser.add_argument("--baselines-only", action="store_true", help="only the baselines (no training)")
    parser.add_argument("--sparse-only", action="store_true",
                        help="with --baselines-only: exact and TF-IDF rows only (no encoder, seconds on a CPU)")
    parser.add_argument("--biored-extra", action="store_true",
                        help="BioRED Train + Dev disease mentions (NCBI develop and test abstracts left out) in the "
                             "self-alignment data and in every linker's dictionary")
    parser.add_argument("--expanded-rows", action="store_true",
                        help="also self-align on the training mentions as their abstracts expand them")
    parser.add_argument("--max-pairs", type=int, default=50, help="synonym pairs per concept at most")
    parser.add_argument("--dictionary-negatives", type=int, default=0)
    parser.add_argument("--abbreviations", action="store_true",
                        help="expand short forms with Schwartz-Hearst in each mention's abstract (default: as written)")
    parser.add_argument("--no-composites", action="store_true",
                        help="leave training mentions with several ids out of the dictionary")
    parser.add_argument("--tfidf-weight", type=float, default=None, help="override the recipes' 0.25")
    parser.add_argument("--prior", type=float, default=None, help="override the recipes' 0.1")
    parser.add_argument("--citation", type=float, default=None, help="override the recipes' 0.1")
    parser.add_argument("--save-encoder", type=Path, default=None)
    parser.add_argument("--wise", type=float, nargs="*", default=[])
    parser.add_argument("--encoder", type=Path, default=None, help="score a saved encoder instead of training one")
    parser.add_argument("--candidate-epochs", type=int, default=0)
    parser.add_argument("--candidate-lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run_info = start_run(args.record, seeds=[args.seed], threads=args.threads,
                         settings={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()})
    root = Path(os.environ.get("COURSE_REAL_DATA", "../shared/data"))
    ncbi = root / "ncbi_disease"
    vocab = read_disease_vocab(root / "disease_vocab")
    task = ncbi_task(ncbi / "NCBItrainset.txt", ncbi / "NCBIdevelopset.txt", root / "disease_vocab",
                     abbreviations=args.abbreviations, composites=not args.no_composites)
    dev_q, gold, primary = list(task.queries), list(task.gold), task.dictionary
    extra, held = (), None
    if args.biored_extra:
        extra, held = biored_training_rows(root / "biored", ncbi)
        primary = primary.extended([n for n, _ in extra], [c for _, c in extra], "BioRED mentions")
    label = "vocabulary + train mentions" + (" + BioRED mentions" if extra else "")
    print(task.description)
    print(f"dictionary {len(primary):,} rows ({label}); develop mentions {len(gold)}"
          + (f"; BioRED rows {len(extra):,}, held out: {len(held.develop)} develop PMIDs, {len(held.test)} test "
             f"PMIDs ({'read from ' + held.test_file.name if held.test_file else 'no NCBItestset file here'})"
             if held else ""))
    results: dict[str, dict[str, float]] = {}
    times: dict[str, float] = {}
    tfidf = L.TfidfLinker(primary)
    options = dict(tfidf_weight=args.tfidf_weight, prior=args.prior, citation=args.citation)

    def run(name: str, row: str, dictionary=primary, **reuse) -> None:
        chosen = L.recipe(name, **options)
        linker = L.build_linker(chosen, dictionary, known_ids=task.known_ids,
                                sparse=tfidf if dictionary is primary else None, **reuse)
        ctx = dict(variants=list(task.variants), cited=list(task.cited)) if chosen.context else {}
        start = time.perf_counter()
        scores = L.evaluate(linker, dev_q, gold, **ctx)
        label_ = f"{row} [{name}]"
        times[label_] = time.perf_counter() - start
        results[label_] = scores.row()
        print(f"{label_:75s} Acc@1 {scores.acc1:.3f}  Acc@5 {scores.acc5:.3f}  strict {scores.strict:.3f}  "
              f"({times[label_]:.0f} s)", flush=True)

    if not args.skip_baselines:
        for name in ("exact", "tfidf", "tfidf+context"):
            run(name, f"{name.split('+')[0]} | {label}")
        run("tfidf", "tfidf | vocabulary only", dictionary=vocab)
    if not args.skip_baselines and not (args.baselines_only and args.sparse_only):
        start = time.perf_counter()
        dense = L.DenseLinker(primary, load_encoder("minilm", device=args.device))
        times["embed dictionary (MiniLM)"] = time.perf_counter() - start
        for name in ("dense", "dense+tfidf", "dense+tfidf+context"):
            run(name, f"MiniLM untrained | {label}", dense=dense)
    if args.baselines_only:
        write_record(run_info, figures={"develop (tuning set)": results, "n_mentions": len(gold),
                                        "biored_rows": len(extra),
                                        "ncbi_test_pmids_held_out": len(held.test) if held else None},
                     data={"ncbi_disease": ncbi, "disease_vocab": root / "disease_vocab",
                           **({"biored": root / "biored"} if extra else {})}, times=times,
                     notes="develop is a tuning set: figures read while the recipe was built")
        return 0
    other_forms = ()
    if args.expanded_rows:
        other_forms = ncbi_task(ncbi / "NCBItrainset.txt", ncbi / "NCBIdevelopset.txt", root / "disease_vocab",
                                abbreviations=not args.abbreviations).train_rows
    rows = extended_training_rows(task.train_rows, other_forms=other_forms, extra=extra, vocabulary=vocab)
    encoder = load_encoder(str(args.encoder) if args.encoder else "minilm", device=args.device)
    steps = 0
    if args.encoder is None:
        settings = SelfAlignSettings(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                                     max_pairs_per_concept=args.max_pairs,
                                     dictionary_negatives=args.dictionary_negatives, seed=args.seed)
        history = self_align(encoder, rows, settings, dictionary=primary)
        times["self-alignment training"], steps = history.seconds, history.steps
        print(f"self-alignment: {len(rows):,} rows, {history.steps} steps in {history.seconds:.0f} s", flush=True)
    if args.candidate_epochs:
        texts, mentions, _ = read_ncbi_disease(ncbi / "NCBItrainset.txt")
        queries = [(m.text, m.ids[0]) for m in mentions if len(m.ids) == 1]
        queries += [(e, m.ids[0]) for e, m in zip(expanded_mentions(mentions, texts), mentions)
                    if len(m.ids) == 1 and e != m.text]
        queries += list(extra)
        history = candidate_align(encoder, queries, primary, CandidateSettings(epochs=args.candidate_epochs,
                                                                               learning_rate=args.candidate_lr))
        times["candidate-loss training"] = history.seconds
    dense = L.DenseLinker(primary, encoder)
    for name in ("dense", "dense+tfidf", "dense+tfidf+context"):
        run(name, f"MiniLM self-aligned | {label}", dense=dense)
    for alpha in args.wise:
        mixed = (encoder[0], average_weights(copy.deepcopy(encoder[1]), load_encoder("minilm", device=args.device)[1],
                                             alpha))
        mixed_dense = L.DenseLinker(primary, mixed)
        for name in ("dense", "dense+tfidf+context"):
            run(name, f"MiniLM self-aligned x {alpha} + untrained x {1 - alpha:g} | {label}", dense=mixed_dense)
    if args.save_encoder is not None:
        from course_utils.ie.self_align import save_encoder

        save_encoder(encoder, args.save_encoder)
    path = write_record(run_info, figures={"develop (tuning set)": results, "n_mentions": len(gold),
                                           "train_rows": len(rows), "steps": steps, "biored_rows": len(extra),
                                           "ncbi_test_pmids_held_out": len(held.test) if held else None},
                        data={"ncbi_disease": ncbi, "disease_vocab": root / "disease_vocab",
                              **({"biored": root / "biored"} if extra else {})}, times=times,
                        notes="develop is a tuning set: figures read while the recipe was built")
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
