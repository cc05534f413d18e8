"""Skip-gram speed and quality: the course's SGNS against gensim's Word2Vec (chapter 9).

Three modes, each printing its figures as Markdown rows for book/results/ch09.md:

``speed`` (default, CPU): chapter 7's synthetic corpus; the course's SGNS with 1 and 2 torch threads against
gensim with 1 and 2 workers, the same sample, window, negatives, dimension, min count and epochs. Raw words per
second = corpus tokens x epochs / training time; for the course's SGNS the time includes subsampling, pair
generation and negative sampling (everything after the vocabulary is built; gensim's vocabulary is built before
its clock starts too). Quality: category recovery@5 on the planted categories. Goal: at least 0.5x gensim with
1 worker, recovery within 0.05.

``gpu`` (needs a CUDA GPU): a synthetic Zipf corpus of ``--gpu-tokens`` (default 100 M) tokens generated on the
GPU, pairs and negatives made there, one epoch; gensim on the machine's CPU cores on a 10 M-token slice of the
same corpus in the same run. Goal: at least 10 M raw words/s and at least 3x gensim.

``real`` (needs ``COURSE_REAL_DATA``): every real abstract (BioRED Dev and NCBI-disease develop left out) with
chapter 9's lab settings: the course's SGNS, gensim and PPMI-SVD (chapter 8's counting) scored on UMNSRS-sim,
UMNSRS-rel, MayoSRS and Bio-SimLex (Spearman, with coverage). The corpus is small (about 3,300 documents,
0.7 M tokens); the published 0.65 on UMNSRS-sim came from a corpus about a thousand times larger, and nothing
here is tuned toward it.

    .venv/bin/python benchmarks/sgns_speed.py speed [--documents 5000] [--epochs 3]
    .venv/bin/python benchmarks/sgns_speed.py gpu [--gpu-tokens 100000000]
    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/sgns_speed.py real
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch


def _machine() -> str:
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{platform.machine()}, {os.cpu_count()} CPU cores{gpu}, torch {torch.__version__}"


def speed(documents: int, epochs: int, thread_counts: tuple[int, ...] = (1, 2), batch_size: int = 6144) -> None:
    """CPU: own SGNS (1, 2 threads) against gensim (1, 2 workers) on the synthetic corpus."""
    from course_utils.text import sgns as S
    from course_utils.text.corpus import synthetic_corpus

    corpus = synthetic_corpus(documents, seed=1234)
    sentences = S.sentences_of(corpus.texts())
    config = S.SgnsConfig(dim=100, window=5, negatives=5, min_count=5, sample=1e-3, epochs=epochs,
                          batch_size=batch_size)
    vocabulary = S.build_vocabulary(sentences, config.min_count)
    encoded = S.encode_corpus(sentences, vocabulary, "cpu")
    print(f"synthetic corpus: {documents:,} documents, {vocabulary.total_tokens:,} tokens, {len(vocabulary):,} words; "
          f"{_machine()}", flush=True)
    rows = []
    for threads in thread_counts:
        result = S.train_sgns(None, config, device="cpu", threads=threads, vocabulary=vocabulary, corpus=encoded)
        score = S.category_recovery(result.vectors, corpus.categories).score
        rows.append((f"course SGNS, {threads} torch thread(s)", result.words_per_second, result.seconds, score))
        print(rows[-1], flush=True)
    for workers in thread_counts:
        result = S.train_gensim(sentences, config, workers=workers)
        score = S.category_recovery(result.vectors, corpus.categories).score
        rows.append((f"gensim Word2Vec, {workers} worker(s)", result.words_per_second, result.seconds, score))
        print(rows[-1], flush=True)
    base = rows[len(thread_counts)][1]
    print("\n| run | raw words/s | training s | x gensim 1 worker | category recovery@5 |\n| --- | --- | --- | --- | --- |")
    for name, wps, seconds, score in rows:
        print(f"| {name} | {wps:,.0f} | {seconds:.1f} | {wps / base:.2f} | {score:.3f} |")
    print(f"\nsettings: {dataclasses.asdict(config)}")


def _zipf_corpus(n_tokens: int, vocab: int, sentence_length: int, device: torch.device, seed: int):
    """Return (Vocabulary, EncodedCorpus) of a Zipf(1) token stream generated on ``device``."""
    from course_utils.text import sgns as S

    gen = torch.Generator(device=device).manual_seed(seed)
    probs = 1.0 / torch.arange(1, vocab + 1, device=device, dtype=torch.float64)
    cdf = torch.cumsum(probs / probs.sum(), 0).float()
    ids = torch.empty(n_tokens, dtype=torch.int64, device=device)
    step = 1 << 24
    for start in range(0, n_tokens, step):
        stop = min(start + step, n_tokens)
        ids[start:stop] = torch.searchsorted(cdf, torch.rand(stop - start, generator=gen, device=device)).clamp_(max=vocab - 1)
    counts = torch.bincount(ids, minlength=vocab).cpu().numpy()
    order = np.argsort(-counts, kind="stable")  # ids already follow falling frequency up to sampling noise
    words = tuple(f"w{i}" for i in order)
    remap = torch.empty(vocab, dtype=torch.int64, device=device)
    remap[torch.as_tensor(order, device=device)] = torch.arange(vocab, device=device)
    ids = remap[ids]
    sentence = torch.arange(n_tokens, device=device) // sentence_length
    vocabulary = S.Vocabulary(words, counts[order].astype(np.int64), n_tokens)
    return vocabulary, S.EncodedCorpus(ids, sentence, n_tokens)


def gpu(n_tokens: int) -> None:
    """GPU: own SGNS on a synthetic corpus made on the GPU, beside gensim on all CPU cores."""
    from course_utils.device import pick_device
    from course_utils.text import sgns as S

    device = pick_device()
    if device.type != "cuda":
        sys.exit("The gpu mode needs a CUDA GPU; this machine has none (use the speed mode).")
    start = time.perf_counter()
    vocabulary, encoded = _zipf_corpus(n_tokens, 100_000, 20, device, 1234)
    torch.cuda.synchronize()
    print(f"Zipf corpus of {n_tokens:,} tokens made on {torch.cuda.get_device_name()} in {time.perf_counter() - start:.1f} s; "
          f"{_machine()}", flush=True)
    config = S.SgnsConfig(dim=100, window=5, negatives=5, min_count=1, sample=1e-4, epochs=1, batch_size=1 << 16,
                          chunk_tokens=1 << 24, lr=0.025)
    torch.cuda.reset_peak_memory_stats()
    ours = S.train_sgns(None, config, device=device, vocabulary=vocabulary, corpus=encoded)
    print(f"course SGNS on the GPU: {ours.words_per_second:,.0f} raw words/s ({ours.pairs:,} pairs, {ours.seconds:.1f} s, "
          f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB)", flush=True)
    slice_tokens = min(n_tokens, 10_000_000)
    ids = encoded.ids[:slice_tokens].cpu().numpy()
    words = np.array(vocabulary.words)
    sentences = [list(words[ids[i:i + 20]]) for i in range(0, slice_tokens, 20)]
    workers = os.cpu_count() or 1
    reference = S.train_gensim(sentences, config, workers=workers)
    print(f"gensim on {workers} CPU workers, {slice_tokens:,} tokens: {reference.words_per_second:,.0f} raw words/s", flush=True)
    print("\n| run | raw words/s | x gensim |\n| --- | --- | --- |")
    print(f"| course SGNS, {torch.cuda.get_device_name()}, {n_tokens:,} tokens, pairs on the GPU | "
          f"{ours.words_per_second:,.0f} | {ours.words_per_second / reference.words_per_second:.1f} |")
    print(f"| gensim Word2Vec, {workers} workers, {slice_tokens:,} tokens | {reference.words_per_second:,.0f} | 1.0 |")
    print(f"\nsettings: {dataclasses.asdict(config)}")


def real(threads: int) -> None:
    """Real abstracts: own SGNS, gensim and PPMI-SVD on the similarity sets, with coverage."""
    from course_utils.profiles import chapter_settings
    from course_utils.text import sgns as S
    from course_utils.text.readers import read_similarity_set, real_abstracts, similarity_sets
    from course_utils.text.vectors import evaluate_similarity

    root = os.environ.get("COURSE_REAL_DATA", "").strip()
    if not root or not Path(root).is_dir():
        sys.exit("Set COURSE_REAL_DATA to the real data folder (e.g. ../shared/data).")
    docs = real_abstracts(Path(root), exclude_eval=True)
    sentences = S.sentences_of(d.text for d in docs)
    n_tokens = sum(len(s) for s in sentences)
    settings = chapter_settings(9, "lab")
    config = S.SgnsConfig.from_settings(settings, batch_size=1024)
    print(f"real abstracts: {len(docs):,} documents, {len(sentences):,} sentences, {n_tokens:,} tokens; "
          f"settings {dataclasses.asdict(config)}; {_machine()}", flush=True)
    ours = S.train_sgns(sentences, config, device="cpu", threads=threads)
    print(f"course SGNS: {ours.seconds:.0f} s, {ours.words_per_second:,.0f} raw words/s", flush=True)
    reference = S.train_gensim(sentences, config, workers=threads)
    print(f"gensim: {reference.seconds:.0f} s, {reference.words_per_second:,.0f} raw words/s", flush=True)
    methods = {"SGNS (course)": ours.vectors, "gensim SGNS": reference.vectors}
    try:
        from course_utils.text.counting import count_vectors

        start = time.perf_counter()
        methods["PPMI-SVD"] = count_vectors(sentences, min_count=config.min_count, window=2, dim=config.dim)
        print(f"PPMI-SVD: {time.perf_counter() - start:.0f} s", flush=True)
    except Exception as error:  # chapter 8's API may differ; the SGNS rows stand on their own
        print(f"PPMI-SVD left out: {type(error).__name__}: {error}", flush=True)
    sets = {name: read_similarity_set(path) for name, path in similarity_sets(root).items() if name != "MiniMayoSRS"}
    print(f"\n| method | {' | '.join(sets)} |\n| --- |{' --- |' * len(sets)}")
    for name, vectors in methods.items():
        cells = []
        for pairs in sets.values():
            result = evaluate_similarity(vectors, pairs)
            cells.append(f"{result.rho:.2f} ({result.n_covered}/{result.n_total})")
        print(f"| {name} | {' | '.join(cells)} |")
    print(f"\ncorpus: {len(docs):,} documents, {n_tokens:,} tokens; Spearman rho (pairs covered / pairs in the set)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="speed", choices=("speed", "gpu", "real"))
    parser.add_argument("--documents", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--gpu-tokens", type=int, default=100_000_000)
    parser.add_argument("--threads", type=int, default=1, help="real mode: torch threads and gensim workers")
    parser.add_argument("--batch-size", type=int, default=6144,
                        help="speed mode: pairs per update of the course's SGNS (6144: 1,024 whole windows of reach 5)")
    parser.add_argument("--thread-counts", default="1,2", help="speed mode: torch threads / gensim workers to run")
    args = parser.parse_args()
    if args.mode == "speed":
        speed(args.documents, args.epochs, tuple(int(t) for t in args.thread_counts.split(",")), args.batch_size)
    elif args.mode == "gpu":
        gpu(args.gpu_tokens)
    else:
        real(args.threads)


if __name__ == "__main__":
    main()
