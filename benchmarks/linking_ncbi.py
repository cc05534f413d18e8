"""Chapter 14 on real data: NCBI-disease develop linked to MeSH/OMIM names, baselines and self-alignment.

Run (from the repository root, real data in COURSE_REAL_DATA):

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/linking_ncbi.py [--epochs 1] [--batch-size 64]

Protocol (BioSyn / SapBERT): the dictionary is the disease vocabulary plus the training mentions (primary);
the vocabulary alone is also reported. Queries are the develop mentions as written (``--abbreviations``:
expanded with Schwartz-Hearst in their own abstract, training mentions alike); training mentions with several
ids enter the dictionary under each (``--no-composites``: left out). Every linker with scores is also reported
"+ context" (:class:`course_utils.ie.linking.ContextLinker`): each mention scored by the better of its two
forms (as written, abbreviations expanded: its abstract's definitions, else a long form among the document's
other mentions) plus 0.1 for ids of the training annotations and 0.1 for OMIM ids its abstract cites; the
TF-IDF weight of the combined rows (0.25), the prior and the citation bonus were chosen by two-fold
cross-validation over the NCBI-disease training documents with the untrained encoder, not on develop. Lenient rule: any gold id; strict: composites split, every gold id
found. The self-aligned encoder is MiniLM fine-tuned with SapBERT's miner and loss on NCBI-disease training
mentions paired with the names of their ids (supervised fine-tuning, not UMLS pretraining).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import time
from pathlib import Path

import torch


def main() -> int:
    """Print the table and write benchmarks/results/linking_ncbi.json."""
    from course_utils.ie import linking as L
    from course_utils.ie.linking_data import (
        biored_disease_rows,
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
    from course_utils.text.pretrained import load_encoder

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "linking_ncbi.json")
    parser.add_argument("--skip-baselines", action="store_true", help="only the self-aligned rows")
    parser.add_argument("--biored-extra", action="store_true",
                        help="also self-align on BioRED Train + Dev disease mentions (MeSH ids; abstracts of the "
                             "develop file left out) and the vocabulary names of their ids")
    parser.add_argument("--expanded-rows", action="store_true",
                        help="also self-align on the training mentions as their abstracts expand them (the form the "
                             "context rows query with), beside the mentions as written")
    parser.add_argument("--max-pairs", type=int, default=50, help="synonym pairs per concept at most")
    parser.add_argument("--dictionary-negatives", type=int, default=0,
                        help="per pair, one of this many nearest wrong dictionary names joins the batch (0: "
                             "SapBERT's in-batch negatives only)")
    parser.add_argument("--abbreviations", action="store_true",
                        help="expand short forms with Schwartz-Hearst in each mention's abstract (default: as written)")
    parser.add_argument("--no-composites", action="store_true",
                        help="leave training mentions with several ids out of the dictionary")
    parser.add_argument("--tfidf-weight", type=float, default=0.25,
                        help="weight of the TF-IDF score in the combined rows (0.25: chosen on training folds)")
    parser.add_argument("--prior", type=float, default=0.1, help="context rows: bonus for ids of training annotations")
    parser.add_argument("--citation", type=float, default=0.1,
                        help="context rows: bonus for the OMIM ids a mention's abstract cites (0.1: training folds)")
    parser.add_argument("--save-encoder", type=Path, default=None, help="folder to save the self-aligned encoder in")
    parser.add_argument("--wise", type=float, nargs="*", default=[],
                        help="also score the self-aligned weights averaged with the untrained encoder's (alpha x "
                             "self-aligned + (1 - alpha) x untrained, WiSE-FT), for each alpha given")
    parser.add_argument("--encoder", type=Path, default=None,
                        help="score an encoder saved by --save-encoder instead of self-aligning one (its rows keep the "
                             "self-aligned labels; the settings of its own run are not known here)")
    parser.add_argument("--candidate-epochs", type=int, default=0,
                        help="after self-alignment (or on the --encoder given), this many epochs of BioSyn's candidate "
                             "loss on the training mentions (as written and expanded; + BioRED's with --biored-extra)")
    parser.add_argument("--candidate-lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=1234,
                        help="self-alignment seed (pair sampling, batch order, dictionary negatives; 1234: every run "
                             "on the results page unless it says otherwise)")
    parser.add_argument("--device", default="cpu",
                        help="where the encoders run: cpu (the recorded figures), cuda, cuda:1, mps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(os.environ.get("COURSE_REAL_DATA", "../shared/data"))
    t0 = time.perf_counter()
    vocab = read_disease_vocab(root / "disease_vocab")
    task = ncbi_task(root / "ncbi_disease" / "NCBItrainset.txt", root / "ncbi_disease" / "NCBIdevelopset.txt",
                     root / "disease_vocab", abbreviations=args.abbreviations,
                     composites=not args.no_composites)
    dev_q, gold, primary = list(task.queries), list(task.gold), task.dictionary
    print(task.description)
    print(f"vocabulary {len(vocab):,} names, + train mentions {len(primary):,}; develop mentions {len(gold)}")
    results: dict[str, dict[str, float]] = {}
    times: dict[str, float] = {}

    def run(label: str, linker, context: bool = True) -> None:
        variants = [(label, linker, None)]
        if context and hasattr(linker, "scores") and task.variants:
            variants.append((f"{label} + context", L.ContextLinker(linker, known_ids=task.known_ids, prior=args.prior,
                                                                   citation=args.citation), list(task.variants)))
        for name, lk, var in variants:
            start = time.perf_counter()
            scores = L.evaluate(lk, dev_q, gold, variants=var, cited=None if var is None else list(task.cited))
            times[name] = time.perf_counter() - start
            results[name] = scores.row()
            print(f"{name:65s} Acc@1 {scores.acc1:.3f}  Acc@5 {scores.acc5:.3f}  strict {scores.strict:.3f}  "
                  f"unique Acc@1 {scores.acc1_unique:.3f}  ({times[name]:.0f} s)", flush=True)

    for dictionary, name in (() if args.skip_baselines else ((primary, "vocabulary + train mentions"), (vocab, "vocabulary only"))):
        run(f"exact match | {name}", L.ExactMatchLinker(dictionary))
        run(f"char 2-4-gram TF-IDF | {name}", L.TfidfLinker(dictionary), context=dictionary is primary)
    encoder = load_encoder("minilm", device=args.device)
    tfidf = L.TfidfLinker(primary)
    if not args.skip_baselines:
        start = time.perf_counter()
        dense = L.DenseLinker(primary, encoder)
        times["embed dictionary (MiniLM)"] = time.perf_counter() - start
        print(f"embedded {len(primary):,} names in {times['embed dictionary (MiniLM)']:.0f} s", flush=True)
        run("MiniLM zero-shot | vocabulary + train mentions", dense)
        run(f"MiniLM zero-shot + {args.tfidf_weight} TF-IDF | vocabulary + train mentions",
            L.CombinedLinker(dense, tfidf, args.tfidf_weight))
        run("MiniLM zero-shot | vocabulary only", L.DenseLinker(vocab, encoder), context=False)
    other_forms, extra = (), ()
    if args.expanded_rows:
        other_forms = ncbi_task(root / "ncbi_disease" / "NCBItrainset.txt", root / "ncbi_disease" / "NCBIdevelopset.txt",
                                root / "disease_vocab", abbreviations=not args.abbreviations).train_rows
    if args.biored_extra:
        develop_docs, _, _ = read_ncbi_disease(root / "ncbi_disease" / "NCBIdevelopset.txt")
        extra = biored_disease_rows([root / "biored" / "Train.PubTator", root / "biored" / "Dev.PubTator"],
                                    exclude_documents=develop_docs)
    rows = extended_training_rows(task.train_rows, other_forms=other_forms, extra=extra, vocabulary=vocab)
    print(f"self-alignment rows: {len(task.train_rows):,} from NCBI train, {len(rows):,} with "
          f"{'expanded forms' if args.expanded_rows else 'no expanded forms'} and "
          f"{f'{len(extra):,} BioRED disease mentions (+ vocabulary names of their new ids)' if extra else 'no BioRED rows'}",
          flush=True)
    steps = 0
    if args.encoder is not None:
        encoder = load_encoder(str(args.encoder), device=args.device)
        print(f"scoring the saved encoder {args.encoder} (no self-alignment)", flush=True)
    else:
        settings = SelfAlignSettings(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                                     max_pairs_per_concept=args.max_pairs, dictionary_negatives=args.dictionary_negatives,
                                     seed=args.seed)
        history = self_align(encoder, rows, settings, dictionary=primary)
        times["self-alignment training"] = history.seconds
        steps = history.steps
        print(f"self-alignment: {history.steps} steps in {history.seconds:.0f} s, loss {history.losses[0]:.3f} -> "
              f"{history.losses[-1]:.3f}", flush=True)
    if args.candidate_epochs:
        texts, mentions, _ = read_ncbi_disease(root / "ncbi_disease" / "NCBItrainset.txt")
        queries = [(m.text, m.ids[0]) for m in mentions if len(m.ids) == 1]
        queries += [(e, m.ids[0]) for e, m in zip(expanded_mentions(mentions, texts), mentions)
                    if len(m.ids) == 1 and e != m.text]
        queries += list(extra)
        history = candidate_align(encoder, queries, primary, CandidateSettings(epochs=args.candidate_epochs,
                                                                               learning_rate=args.candidate_lr))
        times["candidate-loss training"] = history.seconds
        print(f"candidate loss: {len(queries):,} query rows, {history.steps} steps in {history.seconds:.0f} s, loss "
              f"{history.losses[0]:.3f} -> {history.losses[-1]:.3f}", flush=True)
    dense = L.DenseLinker(primary, encoder)
    run("MiniLM self-aligned on NCBI train | vocabulary + train mentions", dense)
    run(f"MiniLM self-aligned + {args.tfidf_weight} TF-IDF | vocabulary + train mentions",
        L.CombinedLinker(dense, tfidf, args.tfidf_weight))
    for alpha in args.wise:
        mixed = (encoder[0], average_weights(copy.deepcopy(encoder[1]), load_encoder("minilm", device=args.device)[1], alpha))
        mixed_dense = L.DenseLinker(primary, mixed)
        run(f"MiniLM self-aligned, weights x {alpha} + untrained x {1 - alpha:g} | vocabulary + train mentions", mixed_dense)
        run(f"MiniLM self-aligned, weights x {alpha}, + {args.tfidf_weight} TF-IDF | vocabulary + train mentions",
            L.CombinedLinker(mixed_dense, tfidf, args.tfidf_weight))
    if not args.skip_baselines:
        run("MiniLM self-aligned | vocabulary only", L.DenseLinker(vocab, encoder), context=False)
    if args.save_encoder is not None and (args.encoder is None or args.candidate_epochs):
        from course_utils.ie.self_align import save_encoder

        save_encoder(encoder, args.save_encoder)
    out = {"results": results, "times_s": times,
           "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "total_s": time.perf_counter() - t0,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}, device {args.device}",
           "train_rows": len(rows), "steps": steps, "biored_extra": args.biored_extra}
    path = args.out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"total {out['total_s']:.0f} s; written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
