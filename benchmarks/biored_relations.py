"""Chapter 13 on real data: BioRED Train -> Dev, entities and relations (with gold and with predicted entities).

Run (from the repository root, real data in COURSE_REAL_DATA; CPU, scores and counts only, no abstract text):

    COURSE_REAL_DATA=../shared/data OMP_NUM_THREADS=2 .venv/bin/python benchmarks/biored_relations.py [--threads 2]
    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/biored_relations.py --quick   # 40 docs, 1 epoch

Rows:

* NER, exact span + type micro-F1 on Dev: the dictionary tagger (training surfaces) and MiniLM token
  classification (:mod:`course_utils.ie.ner_biored`), beside the BioRED paper's NER figure (89.3 F1, PubMedBERT,
  its test split), labelled as such;
* relations, the BioRED paper's three metrics (entity pair; + type; + novelty) over *all* candidate pairs of each
  Dev document, with gold entities and with the MiniLM NER's predicted entities (ids from its training
  dictionary or ``?type:text`` placeholders: a relation counts only when its ids equal the gold ids), for the
  type-pair rule, the LSTM and the MiniLM relation model (:mod:`course_utils.ie.relations`, ``pretrained``);
  beside each, the seed's metric (relation-type accuracy on the gold-related pairs only) to show what it hid;
  the BioRED paper's novel-relation figure (47.7 F1, PubMedBERT, its test split), labelled as such;
* training times and prediction throughput (abstracts/s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

PUBLISHED_NER_F1 = 0.893  # BioRED paper (Luo et al. 2022), NER with PubMedBERT, its test split
PUBLISHED_NOVEL_F1 = 0.477  # BioRED paper, novel relations (pair + type + novelty), PubMedBERT, its test split


def _relation_row(gold: Sequence[Any], predicted_docs: Sequence[Any], predicted_pairs: Sequence[Any]) -> dict[str, Any]:
    """The three BioRED metrics, relation micro/macro F1 and the seed's known-pairs accuracy."""
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
    lookup = {(p.doc_id, *sorted((p.id1, p.id2))): p.relation for p in predicted_pairs if p.relation != NO_RELATION}
    return {**{name: {"precision": s.precision, "recall": s.recall, "f1": s.f1} for name, s in metrics.items()},
            "relation_micro_f1": rel.micro_f1, "relation_macro_f1": rel.macro_f1,
            "known_pairs_accuracy": known_pairs_accuracy(gold_pairs, lookup)}


def main() -> int:
    """Print the markdown table and write the JSON results (default benchmarks/results/biored_relations.json)."""
    from course_utils.ie import ner_biored as N
    from course_utils.ie.biored import TypePairRule, labelled_pairs, read_pubtator
    from course_utils.ie.relations import documents_with_relations, predict_relations, train_relations

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu (the benchmark's setting) or cuda")
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
    parser.add_argument("--no-minilm", action="store_true", help="skip both MiniLM models (minutes instead of an hour on a CPU): predicted entities come from the dictionary tagger")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "biored_relations.json")
    args = parser.parse_args()
    if args.quick:
        args.train_docs = args.train_docs or 40
        args.dev_docs = args.dev_docs or 20
        args.ner_epochs = args.lstm_epochs = args.pretrained_epochs = 1
    torch.set_num_threads(args.threads)
    root = Path(os.environ.get("COURSE_REAL_DATA", "../shared/data")) / "biored"
    t0 = time.perf_counter()
    train = list(read_pubtator(root / "Train.PubTator").documents)[: args.train_docs]
    dev = list(read_pubtator(root / "Dev.PubTator").documents)[: args.dev_docs]
    print(f"BioRED Train {len(train)} -> Dev {len(dev)} abstracts; {args.threads} threads on {args.device}", flush=True)
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

    # ---- NER
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
                                                            max_length=args.ner_max_length, seed=args.seed,
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
            results[name][setting] = _relation_row(dev, documents_with_relations(docs, pairs), pairs)
    models = {
        "LSTM (from scratch)": lambda: train_relations(train, kind="lstm", epochs=args.lstm_epochs, seed=args.seed,
                                                      device=args.device, show_progress=False),
        "MiniLM fine-tuned (pretrained)": lambda: train_relations(
            train, kind="pretrained", model="minilm", epochs=args.pretrained_epochs, batch_size=4, lr=3e-3,
            encoder_lr=args.encoder_lr, encoder_layers=args.encoder_layers, max_length=args.pretrained_max_length,
            seed=args.seed, device=args.device, show_progress=False),
    }
    if args.no_minilm:
        del models["MiniLM fine-tuned (pretrained)"]
    for name, fit in models.items():
        clf = timed(f"train relations {name}", fit)
        results[name] = {}
        for setting, docs in settings.items():
            pairs = timed(f"predict relations {name} | {setting}", lambda clf=clf, docs=docs: predict_relations(clf, docs),
                          len(docs))
            results[name][setting] = _relation_row(dev, documents_with_relations(docs, pairs), pairs)

    if ner is not None:
        end_to_end = timed("end to end (MiniLM NER + MiniLM relations)",
                           lambda: predict_relations(clf, N.predict_mentions(ner, dev)), len(dev))
        del end_to_end

    # ---- table
    lines = ["| task | model | entities | entity pair F1 | + type F1 | + novelty F1 | relation macro-F1 | "
             "seed's known-pairs accuracy |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, f1 in ner_rows.items():
        lines.append(f"| NER micro-F1 | {name} | - | {f1:.3f} | | | | |")
    lines.append(f"| NER micro-F1 | published: BioRED paper, PubMedBERT, its test split | - | {PUBLISHED_NER_F1:.3f} "
                 "| | | | |")
    for name, by_setting in results.items():
        for setting, row in by_setting.items():
            lines.append(f"| relations | {name} | {setting} | {row['entity_pair']['f1']:.3f} | "
                         f"{row['pair_type']['f1']:.3f} | {row['pair_type_novelty']['f1']:.3f} | "
                         f"{row['relation_macro_f1']:.3f} | {row['known_pairs_accuracy']:.3f} |")
    lines.append(f"| relations | published: BioRED paper, PubMedBERT, its test split (novel relations) | as published "
                 f"| | | {PUBLISHED_NOVEL_F1:.3f} | | |")
    print()
    print("\n".join(lines))
    print()
    for label, seconds in times.items():
        print(f"- {label}: {seconds:.1f} s")
    for label, per_second in speed.items():
        print(f"- {label}: {per_second:.1f} abstracts/s")
    out = {"ner_micro_f1": ner_rows, "ner_per_type_f1": {t: s.f1 for t, s in ner_scores.per_type.items()},
           "relations": results, "times_s": times, "abstracts_per_s": speed,
           "published": {"ner_f1": PUBLISHED_NER_F1, "novel_relation_f1": PUBLISHED_NOVEL_F1,
                         "source": "BioRED paper (Luo et al. 2022), PubMedBERT, its test split"},
           "settings": {k: str(v) for k, v in vars(args).items()}, "train_docs": len(train), "dev_docs": len(dev),
           "total_s": time.perf_counter() - t0,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}, {args.device}",
           "table": lines}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"total {out['total_s']:.0f} s; written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
