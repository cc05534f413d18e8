"""Chapter 14's honest protocol: the training folds choose every knob; the chosen recipe is scored on develop once.

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/ch14_protocol.py folds   [--threads 2] [--grid full]
    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/ch14_protocol.py folds --grid refine [--threads 2]
    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/ch14_protocol.py develop [--threads 2]

``folds``: the NCBI-disease training documents split in two (``document_folds``, seed 0: the split of every
cross-validation benchmark of the chapter); each half in turn is the dictionary's annotated mentions and the
self-alignment data, the other half the queries. Every knob is chosen here, by the mean Acc@1 (lenient) of the
two query halves pooled:

* data: NCBI training mentions alone; + BioRED Train/Dev disease mentions (NCBI develop and test abstracts and the
  query half's abstracts left out); + the training mentions as their abstracts expand them;
* learning rate, dictionary negatives, epochs (each reported epoch of one run is a candidate);
* the TF-IDF weight (0: dense alone, 0.25, 0.5) and context (off, on).

The baselines get the data the method gets: with BioRED rows in the data they are in every linker's dictionary,
and the best baseline is chosen on the folds among the baseline recipes over the chosen recipe's dictionary. The
record ``ch14.protocol_folds`` holds every candidate's fold scores, the choice and the folds' margin with a
document-bootstrap interval.

The search may go in steps, each on the folds alone: ``--grid small`` (first step) and then ``--grid refine``, which
tries what the first left out around its choice (learning rate 2e-5 beside 5e-5; the expanded forms beside
NCBI + BioRED; no negatives, which won the first step; epochs 1 and 3) and writes ``ch14.protocol_folds_refine``: the
first step's candidates and this step's in one table, the choice over both. Runs the first step already scored are
not run again; its baselines are scored again, and the run stops if they do not give the first step's figures.

``develop``: reads the last step's record (``--folds-record NAME`` to name one), trains the chosen recipe on all NCBI training documents with seeds 1, 2, 3,
scores it and the fold-chosen baseline on develop once per seed, and writes ``ch14.protocol_develop``: mean,
spread, and document-bootstrap intervals (one document draw for every seed) of each seed's Acc@1 and margin and of
the three seeds' mean (the per-mention share of seeds that link it right, resampled by document). Develop was used as a tuning set before
this protocol existed (the results page says which figures); this figure is the only one whose knobs it did not
choose.

Resumable: each unit (one fold's baselines over one data setting, one training run of a fold, one develop seed) is
written whole into ``--work FOLDER`` when it finishes (default ``benchmarks/.work/ch14_protocol``, not committed);
an invocation stopped part-way is run again with the same command and goes on from the last finished unit. The
record lists every unit with its commit, load at start and seconds.

Cost, measured on 2 CPU cores (2026-12-07, records ``ch14.protocol_folds`` and ``ch14.protocol_develop``): the
``small`` grid, 4 self-alignment runs a fold (8 in all) plus the baselines, took 7,274 s, one run 8-22 minutes
(each embeds the 20-23 thousand dictionary names after every reported epoch); ``develop`` with the chosen 1-epoch
recipe about 200 s a seed. The ``full`` grid has 12 runs a fold. On a GPU: ``--device cuda``.
``--dry-run FOLDER`` runs the whole path on a slice of the data (150 vocabulary names, 16 training and 4 develop abstracts, 2 steps an epoch) and writes its records
into FOLDER, so a real run does not fail after hours on a path nobody ran.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import numpy as np

DATA = ("ncbi", "ncbi+biored", "ncbi+biored+expanded")
GRIDS = {
    "full": {"data": DATA, "lr": (2e-5, 5e-5), "negatives": (0, 5)},
    "small": {"data": ("ncbi", "ncbi+biored"), "lr": (5e-5,), "negatives": (0, 5)},
    # the second step of a search on the folds: around the small grid's choice, the learning rate and data it left out
    "refine": {"data": ("ncbi+biored", "ncbi+biored+expanded"), "lr": (2e-5, 5e-5), "negatives": (0,)},
}
GRID_EPOCHS = {"full": (1, 3, 5), "small": (1, 3, 5), "refine": (1, 3)}
RECORDS = {"full": "ch14.protocol_folds", "small": "ch14.protocol_folds", "refine": "ch14.protocol_folds_refine"}
WEIGHTS = (0.0, 0.25, 0.5)


def _recipe(L, weight: float, context: bool):
    name = ("dense" if weight == 0 else "dense+tfidf") + ("+context" if context else "")
    return L.recipe(name, tfidf_weight=weight if weight else None)


def _best(table: dict[str, dict]) -> str:
    """Return the key with the highest pooled Acc@1 (first listed wins a tie)."""
    return max(table, key=lambda k: (table[k]["acc1"], -list(table).index(k)))


def _join(earlier: dict[str, dict], earlier_name: str, here: dict[str, dict], name: str) -> tuple[dict, dict]:
    """Return the candidate table of two search steps on the folds and the candidates both scored (key: difference).

    The earlier step's candidates come first, so a tie keeps its choice; a candidate scored again (the baselines) is
    credited to the later step and must give the earlier figure, or the two steps' tables could not be compared and the run stops."""
    again = {k: abs(here[k]["acc1"] - earlier[k]["acc1"]) for k in here if k in earlier}
    if again and max(again.values()) > 1e-9:
        worst = max(again, key=again.get)
        raise SystemExit(f"scored again, {worst} differs from {earlier_name} by {again[worst]:.4f}: the two steps do "
                         "not score alike; run the first step again at this commit.")
    return ({**{k: {**v, "record": earlier_name} for k, v in earlier.items()},
             **{k: {**v, "record": name} for k, v in here.items()}}, again)


def _sd(values: np.ndarray) -> float:
    """Return the sample standard deviation (0 for one value)."""
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _unit(work: Path, name: str, signature: dict, run_info, compute) -> tuple[dict[str, np.ndarray], dict]:
    """Return one unit's per-candidate hits and its conditions: read from ``work`` when an earlier invocation
    finished it with the same settings, else computed now and written there whole (a temporary file renamed)."""
    path = work / f"{name}.json"
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("signature") != signature:
            raise SystemExit(f"{path}: made with other settings ({saved.get('signature')}, not {signature}); "
                             "delete this file to compute it again, or pass another --work FOLDER.")
        print(f"{name}: done earlier (commit {saved['meta']['commit'][:7]}), read from {path}", flush=True)
        return ({k: np.array([c == "1" for c in v], dtype=bool) for k, v in saved["hits"].items()},
                {**saved["meta"], "resumed": True})
    load = [round(x, 2) for x in os.getloadavg()]
    start = time.perf_counter()
    hits = compute()
    meta = {"unit": name, "commit": run_info.commit, "uncommitted_changes": run_info.uncommitted_changes,
            "load_average_start": load, "seconds": round(time.perf_counter() - start, 1),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    work.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"signature": signature, "meta": meta,
                               "hits": {k: "".join("1" if x else "0" for x in v) for k, v in hits.items()}}))
    tmp.replace(path)
    return hits, {**meta, "resumed": False}


def main() -> int:
    from common import RESULTS_DIR
    from course_utils.ie.linking_data import (
        biored_training_rows,
        document_folds,
        extended_training_rows,
        read_disease_vocab,
        read_ncbi_disease,
        task_from_mentions,
    )
    from course_utils.ie.self_align import SelfAlignSettings, self_align

    from course_utils.ie import linking as L
    from course_utils.text.pretrained import load_encoder

    parser = argparse.ArgumentParser()
    parser.add_argument("stage", choices=("folds", "develop"))
    parser.add_argument("--grid", choices=tuple(GRIDS), default="small")
    parser.add_argument("--epochs", type=int, nargs="+", default=None,
                        help="epochs reported (candidates; default 1 3 5, with --grid refine 1 3)")
    parser.add_argument("--prior", type=Path, default=None, metavar="RECORD",
                        help="--grid refine: the first step's folds record (default ch14.protocol_folds.json in the "
                             "results folder); its candidates join the table and runs it already scored are skipped")
    parser.add_argument("--folds-record", default=None, metavar="NAME",
                        help="develop: the folds record whose choice is trained (default ch14.protocol_folds_refine "
                             "when it exists, else ch14.protocol_folds)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-boot", type=int, default=2000)
    common.add_common(parser, threads=2, seeds=[1, 2, 3], device=True, seed_help="develop stage: one run per seed")
    parser.add_argument("--dry-run", type=Path, default=None, metavar="FOLDER",
                        help="check the whole path in minutes: 150 vocabulary names, 16 training and 4 develop "
                             "abstracts, 50 BioRED rows, 2 steps an epoch; records go to FOLDER, not benchmarks/results")
    parser.add_argument("--work", type=Path, default=None, metavar="FOLDER",
                        help="where finished units (one training run of a fold, one seed) are kept, so an invocation "
                             "stopped part-way goes on from the last finished unit (default benchmarks/.work/"
                             "ch14_protocol, or FOLDER/work with --dry-run)")
    args = parser.parse_args()
    root = common.data_root()
    ncbi = root / "ncbi_disease"
    vocab = read_disease_vocab(root / "disease_vocab")
    dry = args.dry_run is not None
    results_dir = args.dry_run if dry else RESULTS_DIR
    work = args.work or (args.dry_run / "work" if dry else Path(__file__).resolve().parent / ".work" / "ch14_protocol")
    if dry:
        from course_utils.ie.linking_data import Vocabulary

        vocab = Vocabulary(vocab.names[:150], vocab.ids[:150], vocab.sources[:150] if vocab.sources else ())

    def read(path: Path, documents: int):
        texts, mentions, n = read_ncbi_disease(path)
        if dry:
            keep = set(sorted(texts)[:documents])
            texts = {d: t for d, t in texts.items() if d in keep}
            mentions = [m for m in mentions if m.doc_id in keep]
        return texts, mentions, n
    data_files = {"ncbi_disease": ncbi, "disease_vocab": root / "disease_vocab", "biored": root / "biored"}

    def with_data(task, data: str, texts, train, query_docs):
        """Return (dictionary, training rows, held) of ``task`` under a data setting."""
        extra, held = (), None
        if "biored" in data:
            extra, held = biored_training_rows(root / "biored", ncbi, also_exclude=query_docs)
            extra = extra[:50] if dry else extra
        other = ()
        if "expanded" in data:
            other = task_from_mentions(texts, train, texts, train[:1], vocab, abbreviations=True).train_rows
        dictionary = task.dictionary.extended([n for n, _ in extra], [c for _, c in extra], "BioRED mentions") \
            if extra else task.dictionary
        return dictionary, extended_training_rows(task.train_rows, other_forms=other, extra=extra,
                                                  vocabulary=vocab), held

    def outcomes(linker, task, context: bool) -> np.ndarray:
        ctx = dict(variants=list(task.variants), cited=list(task.cited)) if context else {}
        return L.hits_at_k(linker.rank(list(task.queries), k=1, **ctx).ids, task.gold, 1)

    if args.stage == "folds":
        grid = GRIDS[args.grid]
        args.epochs = args.epochs or list(GRID_EPOCHS[args.grid])
        prior: dict = {}
        if args.grid == "refine":
            prior_path = args.prior or results_dir / "ch14.protocol_folds.json"
            if not prior_path.exists():
                raise SystemExit(f"{prior_path}: no first-step folds record; run `folds --grid small` first or pass "
                                 "--prior RECORD.")
            prior = json.loads(prior_path.read_text())
            same = {k: prior["settings"].get(k) for k in ("batch_size", "weights", "dry_run")}
            if same != {"batch_size": args.batch_size, "weights": list(WEIGHTS),
                        "dry_run": str(args.dry_run) if dry else None}:
                raise SystemExit(f"{prior_path}: its settings {same} differ from this run's (batch size "
                                 f"{args.batch_size}, weights {list(WEIGHTS)}, dry run {dry}); its candidates cannot "
                                 "join this table. Run the first step again with these settings.")
        run_info = common.begin(RECORDS[args.grid], args, seeds=[1234],
                                settings={"grid": {k: list(v) for k, v in grid.items()}, "weights": list(WEIGHTS),
                                          "epochs": args.epochs,
                                          "prior": {"record": prior["name"], "commit": prior["commit"]} if prior
                                          else None})
        earlier = prior["figures"]["candidates"] if prior else {}
        texts, train, _ = read(ncbi / "NCBItrainset.txt", 16)
        folds = document_folds(texts, train, 0)
        hits: dict[str, list[np.ndarray]] = {}
        documents: list[str] = []
        units: list[dict] = []
        signature = {"epochs": args.epochs, "batch_size": args.batch_size, "weights": list(WEIGHTS), "dry": dry}
        for fold, (listed, queries) in enumerate(folds):
            task = task_from_mentions(texts, listed, texts, queries, vocab, name=f"fold {fold}")
            documents += [m.doc_id for m in queries]
            query_docs = {m.doc_id for m in queries}
            for data in grid["data"]:
                built: dict = {}

                def prepared(built=built, task=task, data=data, listed=listed, query_docs=query_docs):
                    if not built:
                        dictionary, rows, _ = with_data(task, data, texts, listed, query_docs)
                        built.update(dictionary=dictionary, rows=rows, tfidf=L.TfidfLinker(dictionary))
                    return built

                def baselines(task=task, data=data, prepared=prepared) -> dict[str, np.ndarray]:
                    dictionary, tfidf = prepared()["dictionary"], prepared()["tfidf"]
                    got = {}
                    for name in ("tfidf", "tfidf+context"):
                        got[json.dumps({"baseline": name, "data": data})] = outcomes(
                            L.build_linker(L.recipe(name), dictionary, known_ids=task.known_ids, sparse=tfidf),
                            task, "context" in name)
                    dense = L.DenseLinker(dictionary, load_encoder("minilm", device=args.device), show_progress=False)
                    for weight, context in itertools.product(WEIGHTS, (False, True)):
                        key = json.dumps({"baseline": "minilm untrained", "data": data, "weight": weight,
                                          "context": context})
                        got[key] = outcomes(L.build_linker(_recipe(L, weight, context), dictionary, sparse=tfidf,
                                                           dense=dense, known_ids=task.known_ids), task, context)
                    return got

                # the baselines do not depend on the epochs reported, so every grid shares them
                done, meta = _unit(work, f"fold{fold}-{data}-baselines",
                                   {k: v for k, v in signature.items() if k != "epochs"}, run_info, baselines)
                units.append(meta)
                for key, value in done.items():
                    hits.setdefault(key, []).append(value)
                for lr, negatives in itertools.product(grid["lr"], grid["negatives"]):
                    keys = [json.dumps({"data": data, "lr": lr, "negatives": negatives, "epochs": n,
                                        "weight": weight, "context": context})
                            for n in args.epochs for weight in WEIGHTS for context in (False, True)]
                    if all(k in earlier for k in keys):
                        print(f"fold {fold} {data} lr {lr:g} neg {negatives}: scored by {prior['name']}, not rerun",
                              flush=True)
                        continue

                    def trained(lr=lr, negatives=negatives, data=data, task=task, fold=fold,
                                prepared=prepared) -> dict[str, np.ndarray]:
                        dictionary, rows, tfidf = (prepared()[k] for k in ("dictionary", "rows", "tfidf"))
                        encoder = load_encoder("minilm", device=args.device)
                        got: dict[str, np.ndarray] = {}

                        def score(epoch: int) -> None:
                            if epoch not in args.epochs:
                                return
                            aligned = L.DenseLinker(dictionary, encoder, show_progress=False)
                            for weight, context in itertools.product(WEIGHTS, (False, True)):
                                key = json.dumps({"data": data, "lr": lr, "negatives": negatives, "epochs": epoch,
                                                  "weight": weight, "context": context})
                                linker = L.build_linker(_recipe(L, weight, context), dictionary, sparse=tfidf,
                                                        dense=aligned, known_ids=task.known_ids)
                                got[key] = outcomes(linker, task, context)
                                print(f"fold {fold} {key} {got[key].mean():.3f}", flush=True)

                        settings = SelfAlignSettings(epochs=max(args.epochs), batch_size=args.batch_size,
                                                     learning_rate=lr, dictionary_negatives=negatives,
                                                     max_steps=2 * max(args.epochs) if dry else None)
                        self_align(encoder, rows, settings, dictionary=dictionary, on_epoch_end=score)
                        return got

                    done, meta = _unit(work, f"fold{fold}-{data}-lr{lr:g}-neg{negatives}", signature, run_info,
                                       trained)
                    units.append(meta)
                    for key, value in done.items():
                        hits.setdefault(key, []).append(value)
        pooled = {k: np.concatenate(v) for k, v in hits.items() if len(v) == len(folds)}
        here = {k: {"acc1": float(v.mean()), "folds": [float(x.mean()) for x in hits[k]]} for k, v in pooled.items()}
        table, reproduced = _join(earlier, prior.get("name", ""), here, run_info.name)
        methods = {k: v for k, v in table.items() if "baseline" not in json.loads(k)}
        chosen = _best(methods)
        data = json.loads(chosen)["data"]
        baselines = {k: v for k, v in table.items() if json.loads(k).get("baseline") and json.loads(k)["data"] == data}
        baseline = _best(baselines)
        if chosen in pooled and baseline in pooled:
            margin = dataclasses.asdict(L.document_bootstrap_margin(pooled[baseline], pooled[chosen], documents,
                                                                    n_boot=args.n_boot))
        else:  # the first step's choice stands: its margin was measured there, over the same folds
            margin = {**prior["figures"]["margin"], "record": prior["name"]}
        extra = {"n_candidates_this_step": sum(1 for k in here if "baseline" not in json.loads(k)),
                 "n_candidates_earlier": sum(1 for k in earlier if "baseline" not in json.loads(k)),
                 "chosen_from": table[chosen]["record"], "baselines_scored_again": len(reproduced)} if prior else {}
        path = common.finish(run_info, {
            "chosen": json.loads(chosen), "chosen_acc1": table[chosen]["acc1"], "chosen_per_fold": table[chosen]["folds"],
            "chosen_baseline": json.loads(baseline), "baseline_acc1": table[baseline]["acc1"],
            "baseline_per_fold": table[baseline]["folds"], "margin": margin, **extra,
            "n_candidates": len(methods), "n_baselines": len(baselines), "n_queries": len(documents),
            "n_query_documents": len(set(documents)), "candidates": table, "units": units},
            times={"units (sum of their own times)": sum(u["seconds"] for u in units),
                   "units computed by this invocation": sum(u["seconds"] for u in units if not u["resumed"])},
            data=data_files, out=results_dir)
        print(f"chosen {chosen} {methods[chosen]['acc1']:.3f}; baseline {baseline} {baselines[baseline]['acc1']:.3f};"
              f" margin {margin['margin']:+.3f} [{margin['low']:+.3f}, {margin['high']:+.3f}]; written {path}")
        return 0

    folds_name = args.folds_record or ("ch14.protocol_folds_refine"
                                       if (results_dir / "ch14.protocol_folds_refine.json").exists()
                                       else "ch14.protocol_folds")
    record = json.loads((results_dir / f"{folds_name}.json").read_text())
    chosen, baseline = record["figures"]["chosen"], record["figures"]["chosen_baseline"]
    run_info = common.begin("ch14.protocol_develop", args,
                            settings={"chosen": chosen, "chosen_baseline": baseline, "folds_record": folds_name,
                                      "folds_commit": record["commit"]})
    texts, train, _ = read(ncbi / "NCBItrainset.txt", 16)
    dev_texts, dev, _ = read(ncbi / "NCBIdevelopset.txt", 4)
    task = task_from_mentions(texts, train, dev_texts, dev, vocab, name="NCBI-disease develop",
                              test_label="NCBIdevelopset.txt")
    dictionary, rows, held = with_data(task, chosen["data"], texts, train, set())
    tfidf = L.TfidfLinker(dictionary)
    documents = [m.doc_id for m in dev]
    if baseline["baseline"] == "minilm untrained":
        base_linker = L.build_linker(_recipe(L, baseline["weight"], baseline["context"]), dictionary, sparse=tfidf,
                                     known_ids=task.known_ids, device=args.device)
        base_context = baseline["context"]
    else:
        base_linker = L.build_linker(L.recipe(baseline["baseline"]), dictionary, sparse=tfidf, known_ids=task.known_ids)
        base_context = "context" in baseline["baseline"]
    base_hits = outcomes(base_linker, task, base_context)
    per_seed, seed_hits, units = {}, [], []
    # a unit is named by the recipe it trains, so a folds run that chooses another recipe starts new units
    signature = {"chosen": chosen, "batch_size": args.batch_size, "dry": dry}
    tag = (f"{chosen['data']}-lr{chosen['lr']:g}-neg{chosen['negatives']}-ep{chosen['epochs']}-w{chosen['weight']:g}"
           f"-{'context' if chosen['context'] else 'nocontext'}")
    for seed in args.seeds:

        def trained(seed=seed) -> dict[str, np.ndarray]:
            encoder = load_encoder("minilm", device=args.device)
            settings = SelfAlignSettings(epochs=chosen["epochs"], batch_size=args.batch_size,
                                         learning_rate=chosen["lr"], dictionary_negatives=chosen["negatives"],
                                         seed=seed, max_steps=2 if dry else None)
            self_align(encoder, rows, settings, dictionary=dictionary)
            aligned = L.DenseLinker(dictionary, encoder, show_progress=False)
            linker = L.build_linker(_recipe(L, chosen["weight"], chosen["context"]), dictionary, sparse=tfidf,
                                    dense=aligned, known_ids=task.known_ids)
            return {"develop": outcomes(linker, task, chosen["context"])}

        done, meta = _unit(work, f"develop-{tag}-seed{seed}", signature, run_info, trained)
        units.append(meta)
        got = done["develop"]
        seed_hits.append(got)
        # one document draw (seed 0) for every seed, so the seeds' intervals differ by their models alone
        acc = L.document_bootstrap_accuracy(got, documents, n_boot=args.n_boot)
        m = L.document_bootstrap_margin(base_hits, got, documents, n_boot=args.n_boot)
        per_seed[seed] = {"acc1": acc.margin, "acc1_low": acc.low, "acc1_high": acc.high,
                          "margin": m.margin, "low": m.low, "high": m.high, "seconds": meta["seconds"]}
        print(f"seed {seed}: Acc@1 {got.mean():.3f} [{acc.low:.3f}, {acc.high:.3f}], margin {m.margin:+.3f} "
              f"[{m.low:+.3f}, {m.high:+.3f}]", flush=True)
    accs = np.array([v["acc1"] for v in per_seed.values()])
    margins = np.array([v["margin"] for v in per_seed.values()])
    mean_hits = np.mean(seed_hits, axis=0)  # per mention, the share of seeds that link it right
    mean_acc = L.document_bootstrap_accuracy(mean_hits, documents, n_boot=args.n_boot)
    mean_margin = L.document_bootstrap_margin(base_hits, mean_hits, documents, n_boot=args.n_boot)
    base_acc = L.document_bootstrap_accuracy(base_hits, documents, n_boot=args.n_boot)
    path = common.finish(run_info, {
        "develop_acc1": {"mean": float(accs.mean()), "sd": _sd(accs), "low": mean_acc.low, "high": mean_acc.high},
        "baseline_acc1": {"value": base_acc.margin, "low": base_acc.low, "high": base_acc.high},
        "margin": {"mean": float(margins.mean()), "sd": _sd(margins), "low": mean_margin.low,
                   "high": mean_margin.high},
        "goal": {"acc1_at_least": 0.88, "margin_at_least": 0.03,
                 "acc1_met": bool(accs.mean() >= 0.88), "margin_met": bool(margins.mean() >= 0.03)},
        "per_seed": per_seed, "units": units, "n_mentions": len(dev), "n_documents": len(set(documents)),
        "ncbi_test_pmids_held_out": len(held.test) if held else None}, data=data_files,
        times={"seeds (sum of their own times)": sum(u["seconds"] for u in units)}, out=results_dir)
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
