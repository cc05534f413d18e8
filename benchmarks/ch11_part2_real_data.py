"""Every method of Part II on the real abstracts, on the same pairs and categories (chapter 11).

The corpus: every real abstract in ``COURSE_REAL_DATA`` (``real_abstracts(..., exclude_eval=True)``: BioRED
Dev and NCBI-disease develop left out, so Part III can evaluate on them), split into sentences and words by
chapter 7's tokenizer. The methods, with chapter 9's lab settings (dimension 100, window 5, min count 5, 5
negatives, 5 epochs): PPMI-SVD (chapter 8), the course's SGNS and gensim's (chapter 9, through the same cache),
a masked-language model adapted with LoRA (chapter 10), and MiniLM (the installed encoder).

The MLM row: no biomedical MLM can be downloaded here, so the row is chapter 10's smoke base model (the course's
small BERT, 2 x 128, pretrained on the synthetic corpus, WordPiece vocabulary of 1,000) adapted with LoRA by
chapter 10's smoke recipe (rank, alpha, targets, learning rate, one epoch) to ``--mlm-documents`` real abstracts
(a seeded 80/20 split; its held-out masked perplexity before and after is recorded). ``--mlm FOLDER`` scores a
merged model of your own instead; ``--mlm-documents 0`` leaves the row out.

The sets: UMNSRS-sim, UMNSRS-rel, MayoSRS and Bio-SimLex, scored by Spearman's rho on each method's own covered
pairs and on the pairs all methods cover, with 95 % bootstrap intervals, and every two methods compared by the
paired bootstrap interval of their difference (the same resampled pairs for both); Ohta's word classes scored by
neighbour purity and silhouette. The record also counts a few target words in the corpus (chapter 11's
co-occurrence target).

The published reference is word2vec trained on PubMed, about 0.65 on UMNSRS-sim (Chiu et al. 2016), from a
corpus about a thousand times larger; nothing here is tuned toward it. Writes ``benchmarks/results/ch11.part2_real_data.json``.

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/ch11_part2_real_data.py [--out FILE.md] [--mlm FOLDER]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import common  # benchmarks/common.py: the script's own folder is on sys.path
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COUNTED_WORDS = ("coronavirus", "influenza", "sars", "covid", "virus")


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def adapt_small_bert(texts: list[str], n_documents: int, out: Path, seed: int) -> tuple[Path, dict]:
    """Adapt chapter 10's smoke base model with LoRA to ``n_documents`` of ``texts``; save it merged in ``out``."""
    from course_utils.profiles import chapter_settings
    from course_utils.text import mlm

    s10 = chapter_settings(10, "smoke")
    base = mlm.small_bert_folder(s10)
    chosen = texts[:n_documents]
    train, held = mlm.split_held_out(chosen, s10.held_out_fraction, seed=seed)
    tokenizer, model = mlm.load_mlm(base, "cpu")
    batches = mlm.fixed_masked_batches(tokenizer, mlm.encode_for_mlm(tokenizer, held, s10.max_length),
                                       probability=s10.mask_probability, seed=seed)
    before = mlm.masked_perplexity(model, batches)
    model = mlm.add_lora(model, s10.lora_rank, alpha=s10.lora_alpha, targets=s10.lora_targets)
    examples = mlm.encode_for_mlm(tokenizer, train, s10.max_length)
    result = mlm.fine_tune(model, tokenizer, examples, method="lora", learning_rate=s10.learning_rate_lora,
                           epochs=s10.epochs, batch_size=s10.batch_size, seed=seed,
                           mask_probability=s10.mask_probability, device="cpu",
                           description="LoRA on real abstracts")
    after = mlm.masked_perplexity(result.model, batches)
    merged = result.model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    with mlm.quiet_training():
        merged.save_pretrained(out)
        tokenizer.save_pretrained(out)
    unk = tokenizer.unk_token_id
    pieces = [i for e in examples for i in e["input_ids"]]
    info = {"base": "course small BERT 2x128 (chapter 10 smoke, pretrained on the synthetic corpus)",
            "documents": len(chosen), "train_documents": len(train), "held_out_documents": len(held),
            "train_sequences": len(examples), "steps": result.steps, "trainable": result.trainable,
            "total": result.total, "training_s": round(result.seconds, 1),
            "perplexity_before": before.perplexity, "perplexity_after": after.perplexity,
            "masked_tokens": after.n_masked, "unk_share_of_pieces": sum(p == unk for p in pieces) / len(pieces),
            "lora_rank": s10.lora_rank, "lora_alpha": s10.lora_alpha, "lora_targets": list(s10.lora_targets),
            "learning_rate": s10.learning_rate_lora, "epochs": s10.epochs}
    return out, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the tables as Markdown here")
    parser.add_argument("--mlm", type=Path, default=None, help="folder of a LoRA-adapted MLM (merged) to score "
                        "instead of adapting the course's small BERT")
    parser.add_argument("--mlm-documents", type=int, default=120,
                        help="real abstracts to adapt the small BERT to (80 %% train, 20 %% held out); 0: no MLM row")
    parser.add_argument("--n-boot", type=int, default=1000)
    common.add_common(parser, threads=2, seed=0)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from common import start_run, write_record

    from course_utils.profiles import chapter_settings
    from course_utils.text import evaluate as E
    from course_utils.text import explore as X
    from course_utils.text import sgns
    from course_utils.text.pretrained import load_encoder
    from course_utils.text.readers import real_abstracts

    root = os.environ.get("COURSE_REAL_DATA", "").strip()
    if not root or not Path(root).is_dir():
        print("error: set COURSE_REAL_DATA to the real data folder (e.g. ../shared/data)", file=sys.stderr)
        return 2
    settings = dataclasses.replace(chapter_settings(9, "lab"), corpus="real", max_documents=None)
    run = start_run("ch11.part2_real_data", seeds=[args.seed], threads=args.threads,
                    settings={"min_count": settings.min_count, "dim": settings.dim, "window": settings.window,
                              "epochs": settings.epochs, "n_boot": args.n_boot,
                              "mlm_documents": args.mlm_documents if args.mlm is None else None,
                              "mlm_folder": str(args.mlm) if args.mlm else None})
    cpu_start = _cpu_seconds()
    docs = real_abstracts(Path(root), exclude_eval=True)
    sentences = sgns.sentences_of(d.text for d in docs)
    counts = Counter(w for s in sentences for w in s)
    n_tokens = sum(counts.values())
    corpus_label = f"{len(docs):,} real abstracts, {n_tokens:,} tokens"
    print(corpus_label, flush=True)
    timings: dict[str, float] = {}

    def timed(name, fn):
        start = time.perf_counter()
        out = fn()
        timings[name] = time.perf_counter() - start
        print(f"{name}: {timings[name]:.0f} s", flush=True)
        return out

    static = {
        "PPMI-SVD": timed("PPMI-SVD", lambda: X.ppmi_svd_vectors(sentences, min_count=settings.min_count,
                                                                 window=settings.window, dim=settings.dim)),
        "SGNS (course)": timed("SGNS (course)", lambda: sgns.trained_vectors(settings, method="sgns", sentences=sentences,
                                                                           corpus_name="real-abstracts")),
        "gensim SGNS": timed("gensim SGNS", lambda: sgns.trained_vectors(settings, method="gensim", sentences=sentences,
                                                                       corpus_name="real-abstracts")),
    }
    encoders = [E.StaticEncoder(v, name) for name, v in static.items()]
    mlm_info: dict = {}
    if args.mlm is not None or args.mlm_documents > 0:
        from course_utils.paths import work_dir
        from course_utils.text.mlm import load_mlm

        if args.mlm is not None:
            folder, label = args.mlm, f"MLM + LoRA ({args.mlm.name})"
        else:
            folder, mlm_info = timed("MLM + LoRA", lambda: adapt_small_bert(
                [d.text for d in docs], args.mlm_documents, work_dir() / "part2-real-small-bert-lora", args.seed))
            label = "small BERT (course) + LoRA"
            print(f"MLM: held-out perplexity {mlm_info['perplexity_before']:.1f} -> {mlm_info['perplexity_after']:.1f}",
                  flush=True)
        tok, model = load_mlm(folder, "cpu")
        encoders.append(E.ContextualEncoder(tok, model, label))
    tok, model = load_encoder("minilm", "cpu")
    encoders.append(E.ContextualEncoder(tok, model, "MiniLM (all-MiniLM-L6-v2)"))

    data = E.evaluation_data("lab", root=root)
    scored = timed("encoding", lambda: E.score_sets(encoders, data.sets))
    similarity = timed("similarity", lambda: E.compare_similarity(encoders, data.sets, n_boot=args.n_boot,
                                                                  seed=args.seed, scored=scored))
    differences = timed("paired differences", lambda: E.paired_differences(
        encoders, data.sets, n_boot=args.n_boot, seed=args.seed, scored=scored))
    categories = timed("categories", lambda: E.compare_categories(encoders, data.categories, k=5))
    cpu = _cpu_seconds() - cpu_start

    pd.set_option("display.width", 200)
    word_counts = {w: counts.get(w, 0) for w in COUNTED_WORDS}
    lines = [f"Corpus: {corpus_label} (`real_abstracts(COURSE_REAL_DATA, exclude_eval=True)`); "
             f"vocabulary at min count {settings.min_count}: {len(static['SGNS (course)'].vocab):,} words; "
             f"dim {settings.dim}, window {settings.window}, {settings.epochs} epochs.",
             "Word counts: " + ", ".join(f"{w} {c:,}" for w, c in word_counts.items()),
             "", "Similarity (Spearman's rho; 95 % bootstrap interval on the common pairs):", "",
             similarity.round(3).to_markdown(), "",
             "Paired differences (rho A - rho B on the common pairs, 95 % paired bootstrap interval):", "",
             differences.round(3).to_markdown(), "",
             "Word classes (purity of the 5 nearest members, cosine silhouette):", "",
             categories.round(3).to_markdown(), "",
             "Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()) + f"; CPU {cpu:.0f} s"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")

    def rows(frame: pd.DataFrame) -> list[dict]:
        return [{**dict(zip(frame.index.names, key if isinstance(key, tuple) else (key,))),
                 **{c: (round(float(v), 4) if isinstance(v, float) else v) for c, v in row.items()}}
                for key, row in frame.iterrows()]

    figures = {"corpus": {"documents": len(docs), "tokens": n_tokens, "sentences": len(sentences),
                          "vocabulary_min_count": len(static["SGNS (course)"].vocab)},
               "word_counts": word_counts, "methods": [e.name for e in encoders],
               "similarity": rows(similarity), "paired_differences": rows(differences),
               "categories": rows(categories), "mlm": mlm_info}
    read = {name: Path(root) / name for name in ("cord19_sample", "biored", "litcoin", "ncbi_disease",
                                                  "word_similarity", "word_classes") if (Path(root) / name).exists()}
    path = write_record(run, figures=figures, data=read, times={**timings, "cpu": cpu})
    print(f"record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
