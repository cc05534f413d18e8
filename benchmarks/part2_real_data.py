"""Every method of Part II on the real abstracts, on the same pairs and categories (chapter 11).

The corpus: every real abstract in ``COURSE_REAL_DATA`` (``real_abstracts(..., exclude_eval=True)``: BioRED
Dev and NCBI-disease develop left out, so Part III can evaluate on them), split into sentences and words by
chapter 7's tokenizer. The methods, with chapter 9's lab settings (dimension 100, window 5, min count 5, 5
negatives, 5 epochs): PPMI-SVD (chapter 8), the course's SGNS and gensim's (chapter 9, through the same cache),
MiniLM (the installed encoder), and, with ``--mlm FOLDER``, a masked-language model adapted with LoRA (chapter
10; no biomedical MLM can be downloaded here, so the row is left out without it). The sets: UMNSRS-sim,
UMNSRS-rel, MayoSRS and Bio-SimLex, scored by Spearman's rho on each method's own covered pairs and on the pairs
all methods cover, with 95 % bootstrap intervals; Ohta's word classes scored by neighbour purity and silhouette.

The published reference is word2vec trained on PubMed, about 0.65 on UMNSRS-sim (Chiu et al. 2016), from a
corpus about a thousand times larger; nothing here is tuned toward it.

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/part2_real_data.py [--out FILE.md] [--mlm FOLDER]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the tables as Markdown here")
    parser.add_argument("--mlm", type=Path, default=None, help="folder of a LoRA-adapted MLM (merged) to add as a row")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from course_utils.profiles import chapter_settings
    from course_utils.text import evaluate as E
    from course_utils.text import explore as X
    from course_utils.text import sgns
    from course_utils.text.pretrained import load_encoder
    from course_utils.text.readers import real_abstracts

    root = os.environ.get("COURSE_REAL_DATA", "").strip()
    if not root or not Path(root).is_dir():
        sys.exit("Set COURSE_REAL_DATA to the real data folder (e.g. ../shared/data).")
    docs = real_abstracts(Path(root), exclude_eval=True)
    sentences = sgns.sentences_of(d.text for d in docs)
    n_tokens = sum(len(s) for s in sentences)
    corpus_label = f"{len(docs):,} real abstracts, {n_tokens:,} tokens"
    print(corpus_label, flush=True)
    settings = dataclasses.replace(chapter_settings(9, "lab"), corpus="real", max_documents=None)
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
    if args.mlm is not None:
        from course_utils.text.mlm import load_mlm

        tok, model = load_mlm(args.mlm, "cpu")
        encoders.append(E.ContextualEncoder(tok, model, f"MLM + LoRA ({args.mlm.name})"))
    tok, model = load_encoder("minilm", "cpu")
    encoders.append(E.ContextualEncoder(tok, model, "MiniLM (all-MiniLM-L6-v2)"))

    data = E.evaluation_data("lab", root=root)
    similarity = timed("similarity", lambda: E.compare_similarity(encoders, data.sets, n_boot=args.n_boot, seed=0))
    categories = timed("categories", lambda: E.compare_categories(encoders, data.categories, k=5))

    pd.set_option("display.width", 200)
    lines = [f"Corpus: {corpus_label} (`real_abstracts(COURSE_REAL_DATA, exclude_eval=True)`); "
             f"vocabulary at min count {settings.min_count}: {len(static['SGNS (course)'].vocab):,} words; "
             f"dim {settings.dim}, window {settings.window}, {settings.epochs} epochs.",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} threads; "
             f"{'no MLM row (no --mlm folder)' if args.mlm is None else ''}",
             "", "Similarity (Spearman's rho; 95 % bootstrap interval on the common pairs; published word2vec on "
             "PubMed about 0.65 on UMNSRS-sim):", "",
             similarity.round(3).to_markdown(), "", "Word classes (purity of the 5 nearest members, cosine silhouette):",
             "", categories.round(3).to_markdown(), "",
             "Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items())]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
