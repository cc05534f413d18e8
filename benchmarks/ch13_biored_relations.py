"""Chapter 13 on real data: BioRED Train -> Dev, entities and relations (with gold and with predicted entities).

Run (from the repository root, real data in COURSE_REAL_DATA; CPU, scores and counts only, no abstract text):

    COURSE_REAL_DATA=../shared/data OMP_NUM_THREADS=2 .venv/bin/python benchmarks/ch13_biored_relations.py [--threads 2]
    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/ch13_biored_relations.py --quick   # 40 docs, 1 epoch
    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/ch13_biored_relations.py --no-minilm --seeds 1 2 3

Each run writes its record with :mod:`course_utils.records` to ``benchmarks/results/ch13.biored_relations[.VARIANT].json``
(variant ``no_minilm`` or ``quick``): command, commit, machine, load, seeds, data sha256, figures and times. The
results page (``book/results/ch13.md``) takes its figures from these records only.

Rows:

* NER, exact span + type micro-F1 on Dev: the dictionary tagger (training surfaces) and MiniLM token
  classification (:mod:`course_utils.ie.ner_biored`), beside the BioRED paper's NER figure (89.3 F1, PubMedBERT,
  its test split), labelled as such;
* the structure of the candidate pairs: the share in entity-type pairs that Train never relates, and the
  no-relation share over all candidates and within the related type pairs;
* relations, BioCreative VIII's four metrics (entity pair; + type; + novelty; + type + novelty; the BioRED paper
  reports all but pair + novelty) over *all* candidate pairs of each
  Dev document, with gold entities and with the MiniLM NER's predicted entities (ids from its training
  dictionary or ``?type:text`` placeholders: a relation counts only when its ids equal the gold ids), for the
  type-pair rule, the LSTM and the MiniLM relation model (:mod:`course_utils.ie.relations`, ``pretrained``);
  beside each, accuracy on the gold-related pairs only, twice: from the 9-way prediction (*None* counts as wrong,
  so it mostly measures abstention) and with the argmax restricted to the eight relation types (what the seed's
  8-way classifiers output: the seed's setting); pair + type F1 is a mean over ``--seeds`` with its spread and a
  document-level bootstrap interval;
  the BioRED paper's novel-relation figure (47.7 F1, PubMedBERT, its test split), labelled as such;
* training times and prediction throughput (abstracts/s).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py: the script's own folder is on sys.path
import torch

PUBLISHED_NER_F1 = 0.893  # BioRED paper (Luo et al. 2022), NER with PubMedBERT, its test split
PUBLISHED_NOVEL_F1 = 0.477  # BioRED paper, novel relations (pair + type + novelty), PubMedBERT, its test split


def _relation_row(gold: Sequence[Any], predicted_docs: Sequence[Any], predicted_pairs: Sequence[Any],
                  related_only: Sequence[Any] | None = None) -> dict[str, Any]:
    """BioCreative VIII's four metrics, relation micro/macro F1 and the known-pairs accuracies."""
    from course_utils.ie.biored import (
        NO_RELATION,
        biored_metrics,
        known_pairs_accuracy,
        labelled_pairs,
        relation_scores,
    )

    metrics = biored_metrics(gold, predicted_docs)
    rel = relation_scores(gold, predicted_docs)
    gold_pairs = [p for d in gold for p in labelled_pairs(d)]

    def lookup(pairs: Sequence[Any]) -> dict[tuple[str, str, str], str]:
        return {(p.doc_id, *sorted((p.id1, p.id2))): p.relation for p in pairs if p.relation != NO_RELATION}

    return {**{name: {"precision": s.precision, "recall": s.recall, "f1": s.f1} for name, s in metrics.items()},
            "relation_micro_f1": rel.micro_f1, "relation_macro_f1": rel.macro_f1,
            "known_pairs_accuracy": known_pairs_accuracy(gold_pairs, lookup(predicted_pairs)),
            "known_pairs_accuracy_relation_types": (None if related_only is None
                                                    else known_pairs_accuracy(gold_pairs, lookup(related_only)))}


def _bootstrap_f1(gold: Sequence[Any], predicted_docs: Sequence[Any], *, resamples: int = 1000,
                  seed: int = 0) -> list[float]:
    """Return the 2.5 and 97.5 percentiles of pair + type micro-F1 over documents resampled with replacement."""
    import numpy as np

    from course_utils.ie.biored import biored_metrics

    pred = {d.doc_id: d for d in predicted_docs}
    counts = []
    for d in gold:
        s = biored_metrics([d], [pred[d.doc_id]] if d.doc_id in pred else [])["pair_type"]
        counts.append((s.tp, s.fp, s.fn))
    c = np.array(counts, dtype=float)
    rng = np.random.default_rng(seed)
    f1 = []
    for _ in range(resamples):
        tp, fp, fn = c[rng.integers(0, len(c), len(c))].sum(axis=0)
        f1.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return [float(np.percentile(f1, 2.5)), float(np.percentile(f1, 97.5))]


def _mean_sd(values: Sequence[float | None]) -> dict[str, Any]:
    import statistics

    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"mean": None, "sd": None, "values": []}
    return {"mean": statistics.fmean(vals), "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0, "values": vals}


def main() -> int:
    """Print the markdown table and write the benchmark record (benchmarks/results/ch13.biored_relations*.json)."""
    from common import start_run, write_record

    from course_utils.ie import biored_explore as E
    from course_utils.ie import ner_biored as N
    from course_utils.ie.biored import TypePairRule, labelled_pairs, read_pubtator
    from course_utils.ie.relations import documents_with_relations, predict_relations, train_relations

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common(parser, threads=2, device=True)
    parser.add_argument("--train-docs", type=int, default=None, help="first N training abstracts (default all 400)")
    parser.add_argument("--dev-docs", type=int, default=None, help="first N Dev abstracts (default all 100)")
    parser.add_argument("--ner-epochs", type=int, default=3)
    parser.add_argument("--ner-max-length", type=int, default=256)
    parser.add_argument("--lstm-epochs", type=int, default=8)
    parser.add_argument("--pretrained-epochs", type=int, default=4)
    parser.add_argument("--pretrained-max-length", type=int, default=512)
    parser.add_argument("--encoder-lr", type=float, default=1e-4, help="MiniLM relation model's encoder lr")
    parser.add_argument("--encoder-layers", type=int, default=None, help="keep MiniLM's first N layers (default 6)")
    parser.add_argument("--quick", action="store_true", help="40 train / 20 Dev abstracts, 1 epoch each: timing")
    parser.add_argument("--no-minilm", action="store_true", help="skip both MiniLM models (minutes instead of an hour "
                        "on a CPU): predicted entities come from the dictionary tagger")
    common.add_common(parser, threads=None, seeds=[1234],
                      seed_help="one training run of each neural model per seed (the DESIGN's protocol: at least 3)")
    args = parser.parse_args()
    if args.quick:
        args.train_docs = args.train_docs or 40
        args.dev_docs = args.dev_docs or 20
        args.ner_epochs = args.lstm_epochs = args.pretrained_epochs = 1
    variant = "quick" if args.quick else ("no_minilm" if args.no_minilm else "")
    run = start_run("ch13.biored_relations" + (f".{variant}" if variant else ""), seeds=args.seeds,
                    threads=args.threads, settings={k: v for k, v in vars(args).items()})
    torch.set_num_threads(args.threads)
    root = Path(os.environ.get("COURSE_REAL_DATA", "../shared/data")) / "biored"
    train = list(read_pubtator(root / "Train.PubTator").documents)[: args.train_docs]
    dev = list(read_pubtator(root / "Dev.PubTator").documents)[: args.dev_docs]
    print(f"BioRED Train {len(train)} -> Dev {len(dev)} abstracts; {args.threads} threads on {args.device}; "
          f"seeds {args.seeds}", flush=True)
    times: dict[str, float] = {}
    speed: dict[str, float] = {}
    ner_rows: dict[str, float] = {}

    def timed(label: str, fn, n_docs: int | None = None):
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
        if n_docs is None:
            times[label] = seconds
            print(f"  {label}: {seconds:.1f} s", flush=True)
        else:
            speed[label] = n_docs / max(seconds, 1e-9)
            print(f"  {label}: {speed[label]:.1f} abstracts/s", flush=True)
        return out

    # ---- the structure of the candidate pairs
    annotated = E.annotated_type_pairs(train)
    structure = E.pair_structure({"train": train, "dev": dev}, annotated)
    print(structure.round(4).to_string(), flush=True)

    # ---- NER
    seed0 = args.seeds[0]
    tagger = timed("train dictionary tagger", lambda: N.DictionaryTagger.fit(train))
    dict_docs = timed("predict dictionary tagger", lambda: tagger.predict(dev), len(dev))
    ner_rows["dictionary tagger (training surfaces)"] = N.entity_scores(dev, dict_docs).micro_f1
    if args.no_minilm:
        ner = None
        ner_docs = tagger.predict(dev, id_dictionary=N.IdDictionary.fit(train))
        ner_scores = N.entity_scores(dev, ner_docs)
        predicted_label = "predicted entities (dictionary tagger)"
    else:
        ner = timed("train MiniLM NER", lambda: N.train_ner(train, model="minilm", epochs=args.ner_epochs,
                                                            max_length=args.ner_max_length, seed=seed0,
                                                            device=args.device, show_progress=False))
        ner_docs = timed("predict MiniLM NER", lambda: N.predict_mentions(ner, dev), len(dev))
        ner_scores = N.entity_scores(dev, ner_docs)
        ner_rows["MiniLM token classification"] = ner_scores.micro_f1
        predicted_label = "predicted entities (MiniLM NER)"
    print(f"NER micro-F1: dictionary {ner_rows['dictionary tagger (training surfaces)']:.3f}" +
          ("" if ner is None else f", MiniLM {ner_scores.micro_f1:.3f} (macro {ner_scores.macro_f1:.3f})"), flush=True)

    # ---- relations
    settings = {"gold entities": dev, predicted_label: ner_docs}
    results: dict[str, dict[str, dict[str, Any]]] = {}
    train_pairs = [p for d in train for p in labelled_pairs(d)]
    rule = TypePairRule(include_none=True).fit(train_pairs)
    seed_rule = TypePairRule(include_none=False).fit(train_pairs)
    for name, rule_model in (("type-pair rule (all pairs)", rule), ("type-pair rule (seed: related pairs)", seed_rule)):
        results[name] = {}
        for setting, docs in settings.items():
            pairs = rule_model.predict([p for d in docs for p in labelled_pairs(d)])
            related = seed_rule.predict([p for d in docs for p in labelled_pairs(d)])
            pred_docs = documents_with_relations(docs, pairs)
            results[name][setting] = {**_relation_row(dev, pred_docs, pairs, related),
                                      "pair_type_f1_bootstrap_95": _bootstrap_f1(dev, pred_docs)}
    models = {
        "LSTM (from scratch)": lambda seed: train_relations(train, kind="lstm", epochs=args.lstm_epochs, seed=seed,
                                                           device=args.device, show_progress=False),
        "MiniLM fine-tuned (pretrained)": lambda seed: train_relations(
            train, kind="pretrained", model="minilm", epochs=args.pretrained_epochs, batch_size=4, lr=3e-3,
            encoder_lr=args.encoder_lr, encoder_layers=args.encoder_layers, max_length=args.pretrained_max_length,
            seed=seed, device=args.device, show_progress=False),
    }
    if args.no_minilm:
        del models["MiniLM fine-tuned (pretrained)"]
    per_seed: dict[str, dict[str, list[dict[str, Any]]]] = {name: {st: [] for st in settings} for name in models}

    def aggregate() -> None:
        for name in models:
            results[name] = {}
            for setting, rows in per_seed[name].items():
                keys = ("entity_pair", "pair_type", "pair_novelty", "pair_type_novelty")
                results[name][setting] = {
                    **{k: {"f1": _mean_sd([r[k]["f1"] for r in rows])} for k in keys},
                    **{k: _mean_sd([r[k] for r in rows]) for k in ("relation_micro_f1", "relation_macro_f1",
                                                                   "known_pairs_accuracy",
                                                                   "known_pairs_accuracy_relation_types")},
                    "pair_type_f1_bootstrap_95": [r["pair_type_f1_bootstrap_95"] for r in rows],
                    "per_seed": rows}

    def f(value: Any) -> str:
        if isinstance(value, dict) and "mean" in value:
            if value["mean"] is None:
                return "-"
            return f"{value['mean']:.3f} ± {value['sd']:.3f}" if len(value["values"]) > 1 else f"{value['mean']:.3f}"
        if isinstance(value, dict) and "f1" in value:
            return f(value["f1"])
        return "-" if value is None else f"{value:.3f}"

    def record(seeds_done: list[int]) -> Path:
        """Write the record with the seeds finished so far (a long run leaves evidence after every seed)."""
        aggregate()
        run.seeds = list(seeds_done)
        lines = ["| task | model | entities | entity pair F1 | + type F1 | + novelty F1 | + type + novelty F1 | "
                 "relation macro-F1 | known-pairs accuracy, 9-way | known-pairs accuracy, 8 relation types |",
                 "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, value in ner_rows.items():
            lines.append(f"| NER micro-F1 | {name} | - | {value:.3f} | | | | | | |")
        for name, by_setting in results.items():
            for setting, row in by_setting.items():
                lines.append(f"| relations | {name} | {setting} | {f(row['entity_pair'])} | {f(row['pair_type'])} | "
                             f"{f(row['pair_novelty'])} | {f(row['pair_type_novelty'])} | "
                             f"{f(row['relation_macro_f1'])} | {f(row['known_pairs_accuracy'])} | "
                             f"{f(row['known_pairs_accuracy_relation_types'])} |")
        print("\n".join(lines), flush=True)
        figures = {"train_docs": len(train), "dev_docs": len(dev), "seeds_finished": list(seeds_done),
                   "pair_structure": {name: {k: (float(v) if "share" in k else int(v)) for k, v in row.items()}
                                      for name, row in structure.to_dict(orient="index").items()},
                   "annotated_type_pairs": sorted("-".join(p) for p in annotated),
                   "ner_micro_f1": ner_rows, "ner_per_type_f1": {t: s.f1 for t, s in ner_scores.per_type.items()},
                   "relations": results, "abstracts_per_s": speed,
                   "published": {"ner_f1": PUBLISHED_NER_F1, "novel_relation_f1": PUBLISHED_NOVEL_F1,
                                 "source": "BioRED paper (Luo et al. 2022), PubMedBERT, its test split"},
                   "table": lines}
        return write_record(run, figures=figures, data={"biored_train": root / "Train.PubTator",
                                                        "biored_dev": root / "Dev.PubTator"}, times=times,
                            notes=f"{platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}, "
                                  f"{args.device}")

    done: list[int] = []
    clf = None
    for seed in args.seeds:
        for name, fit in models.items():
            clf = timed(f"train relations {name} seed {seed}", lambda fit=fit, seed=seed: fit(seed))
            for setting, docs in settings.items():
                pairs = timed(f"predict relations {name} | {setting} | seed {seed}",
                              lambda clf=clf, docs=docs: predict_relations(clf, docs), len(docs))
                related = predict_relations(clf, docs, related_only=True)
                pred_docs = documents_with_relations(docs, pairs)
                per_seed[name][setting].append({**_relation_row(dev, pred_docs, pairs, related), "seed": seed,
                                                "pair_type_f1_bootstrap_95": _bootstrap_f1(dev, pred_docs)})
        done.append(seed)
        path = record(done)
        print(f"record written after seed {seed}: {path}", flush=True)

    if ner is not None and clf is not None:
        timed("end to end (MiniLM NER + last relation model)",
              lambda: predict_relations(clf, N.predict_mentions(ner, dev)), len(dev))
        path = record(done)
    for label, seconds in times.items():
        print(f"- {label}: {seconds:.1f} s")
    for label, per_second in speed.items():
        print(f"- {label}: {per_second:.1f} abstracts/s")
    print(f"record written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
