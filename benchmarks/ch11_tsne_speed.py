"""t-SNE of 20,000 word vectors of dimension 100: openTSNE against scikit-learn's Barnes-Hut (chapter 11).

Both run with the same perplexity (30), iterations (750: 250 with early exaggeration 12 and momentum 0.5, then
500 at momentum 0.8), learning rate (max(n / 12, 200) in openTSNE's units, a quarter of it in scikit-learn's,
which is the same step) and PCA initialisation scaled to a standard deviation of 1e-4, through
``course_utils.text.explore.run_tsne``. Each map is scored by its 10-NN recall against the vectors (exact
neighbours, cosine). Goals (issue 13): openTSNE at most 40 s, at least 2x faster than scikit-learn, recall within
0.01 of scikit-learn's.

The vectors: skip-gram with negative sampling trained on the real abstracts (``COURSE_REAL_DATA``, the course's
``real_abstracts`` without the evaluation splits), dimension 100, window 5, 5 negatives, min count 1, 5 epochs,
the 20,000 most frequent words. gensim's SGNS trains them (seconds, 2 workers); ``--own`` uses the course's
implementation (chapter 9) instead. Without real data the synthetic corpus cannot give 20,000 distinct words,
so the script stops and says so.

    .venv/bin/python benchmarks/ch11_tsne_speed.py [--n 20000] [--threads 2] [--own]

openTSNE's automatic choice at 20,000 points is FFT-interpolated gradients with approximate (Annoy) neighbours
(``explore.opentsne_methods``); the record says which. Writes ``benchmarks/results/ch11.tsne_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import common  # benchmarks/common.py: the script's own folder is on sys.path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sgns_vectors(n: int, dim: int, own: bool, threads: int) -> tuple[np.ndarray, str]:
    from course_utils.text.readers import real_abstracts
    from course_utils.text.sgns import sentences_of

    root = os.environ.get("COURSE_REAL_DATA", "").strip()
    if not root or not Path(root).is_dir():
        sys.exit("Set COURSE_REAL_DATA to the real data folder (e.g. ../shared/data): the synthetic corpus has "
                 "fewer than 20,000 distinct words.")
    docs = real_abstracts(Path(root), exclude_eval=True)
    sentences = sentences_of(d.text for d in docs)
    n_tokens = sum(len(s) for s in sentences)
    start = time.perf_counter()
    if own:
        from course_utils.text.sgns import SgnsConfig, train_sgns

        config = SgnsConfig(dim=dim, window=5, negatives=5, min_count=1, epochs=5, seed=1234)
        result = train_sgns(sentences, config, threads=threads)
        vocab, matrix, label = result.vectors.vocab, result.vectors.matrix, "course SGNS (chapter 9)"
    else:
        from gensim.models import Word2Vec

        model = Word2Vec(sentences, vector_size=dim, window=5, negative=5, sg=1, min_count=1, epochs=5,
                         workers=threads, seed=1234)
        vocab, matrix, label = tuple(model.wv.index_to_key), model.wv.vectors, "gensim SGNS"
    seconds = time.perf_counter() - start
    if len(vocab) < n:
        sys.exit(f"Only {len(vocab):,} distinct words in {len(docs):,} abstracts; ask for --n {len(vocab)} or less.")
    # both libraries order the vocabulary by frequency: the first n rows are the n most frequent words
    desc = (f"{label}, {len(docs):,} real abstracts, {n_tokens:,} tokens, {len(vocab):,} words (min count 1), "
            f"dim {dim}, trained in {seconds:.0f} s; the {n:,} most frequent words")
    return np.asarray(matrix[:n], dtype=np.float64), desc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=100)
    common.add_common(parser, threads=2)
    parser.add_argument("--own", action="store_true", help="train the vectors with the course's SGNS (chapter 9)")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()

    from common import start_run, write_record

    from course_utils.text.explore import knn_recall, opentsne_methods, run_tsne

    run = start_run("ch11.tsne_speed", seeds=[1234], threads=args.threads,
                    settings={"n": args.n, "dim": args.dim, "own": args.own, "perplexity": 30, "n_iter": 750,
                              "exaggeration_iter": 250, "early_exaggeration": 12})
    x, desc = sgns_vectors(args.n, args.dim, args.own, args.threads)
    print(desc, flush=True)
    results = {}
    for backend in ("opentsne", "sklearn"):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu0 = usage.ru_utime + usage.ru_stime
        res = run_tsne(x, perplexity=30, n_iter=750, exaggeration_iter=250, early_exaggeration=12, backend=backend,
                       seed=1234, n_jobs=args.threads)
        recall = knn_recall(x, res.embedding, 10)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        results[backend] = {"seconds": round(res.seconds, 1), "recall@10": round(recall, 4),
                            "cpu_s_with_recall": round(usage.ru_utime + usage.ru_stime - cpu0, 1)}
        print(f"{backend:9s} {res.seconds:7.1f} s   10-NN recall {recall:.4f}", flush=True)
    speedup = results["sklearn"]["seconds"] / results["opentsne"]["seconds"]
    gap = results["opentsne"]["recall@10"] - results["sklearn"]["recall@10"]
    verdict = {
        "openTSNE <= 40 s": results["opentsne"]["seconds"] <= 40,
        "speed-up >= 2": speedup >= 2,
        "recall within 0.01": abs(gap) <= 0.01,
    }
    print(f"speed-up {speedup:.1f}x, recall difference {gap:+.4f} (openTSNE - scikit-learn)")
    print("goals:", ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in verdict.items()))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, threads {args.threads}, python {platform.python_version()}")
    if args.out:
        args.out.write_text(json.dumps({"vectors": desc, "results": results, "speedup": speedup, "gap": gap,
                                        "goals": verdict}, indent=2))
    gradient, neighbours = opentsne_methods(args.n)
    path = write_record(run, figures={"vectors": desc, "results": results, "speedup": round(speedup, 2),
                                      "recall_gap": round(gap, 4), "goals": verdict,
                                      "opentsne_gradient": gradient, "opentsne_neighbours": neighbours},
                        data={"real_data": os.environ["COURSE_REAL_DATA"]})
    print(f"record: {path}")


if __name__ == "__main__":
    main()
