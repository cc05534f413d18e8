"""Skip-gram speed and quality: the course's SGNS against gensim's Word2Vec (chapter 9).

Three modes, each printing its figures as Markdown rows for book/results/ch09.md:

``speed`` (default, CPU): chapter 7's synthetic corpus; the course's SGNS with 1 and 2 torch threads against
gensim with 1 and 2 workers, the same sample, window, negatives, dimension, min count and epochs. The course runs
twice per thread count: its window step (k negatives per centre window, shared by the window's pairs: about a
sixth of word2vec's negative samples at window 5) and word2vec's sampling (k fresh negatives per pair), the
like-for-like row. Raw words per second = corpus tokens x epochs / time; the course's clock includes encoding the
sentences to ids, subsampling, pair generation and negative sampling (gensim looks its words up inside its clock;
both vocabularies are built before the clocks start). Quality is then measured where it is not saturated: the
800-document planted task (gensim scores 0.5-0.9 there), three seeds, category recovery@5. Goal: at least 0.5x
gensim with 1 worker, recovery within 0.05. Writes ``benchmarks/results/ch09.sgns_speed.json``.

``gpu`` (needs a CUDA GPU): a synthetic Zipf corpus of ``--gpu-tokens`` (default 100 M) tokens generated on the
GPU, pairs and negatives made there, one epoch; gensim on the machine's CPU cores on a 10 M-token slice of the
same corpus in the same run. Goal: at least 10 M raw words/s and at least 3x gensim.

``real`` (needs ``COURSE_REAL_DATA``): every real abstract (BioRED Dev and NCBI-disease develop left out) with
chapter 9's lab settings: the course's SGNS, gensim and PPMI-SVD (chapter 8's counting) scored on UMNSRS-sim,
UMNSRS-rel, MayoSRS and Bio-SimLex (Spearman, with coverage). The corpus is small (about 3,300 documents,
0.7 M tokens); the published 0.65 on UMNSRS-sim came from a corpus about a thousand times larger, and nothing
here is tuned toward it.

    .venv/bin/python benchmarks/ch09_sgns_speed.py speed [--documents 5000] [--epochs 3]
    .venv/bin/python benchmarks/ch09_sgns_speed.py gpu [--gpu-tokens 100000000]
    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/ch09_sgns_speed.py real
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import common  # benchmarks/common.py: the script's own folder is on sys.path
import numpy as np
import torch


def _machine() -> str:
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{platform.machine()}, {os.cpu_count()} CPU cores{gpu}, torch {torch.__version__}"


def _course_run(sentences, vocabulary, config, threads):
    """Train the course's SGNS with encoding inside the clock (gensim looks words up inside its own)."""
    from course_utils.text import sgns as S

    cpu = time.process_time()
    with S.torch_threads(threads):
        start = time.perf_counter()
        encoded = S.encode_corpus(sentences, vocabulary, "cpu")
        encode_s = time.perf_counter() - start
    result = S.train_sgns(None, config, device="cpu", threads=threads, vocabulary=vocabulary, corpus=encoded)
    seconds = encode_s + result.seconds
    return result, seconds, result.raw_words / seconds, encode_s, time.process_time() - cpu


def speed(documents: int, epochs: int, thread_counts: tuple[int, ...] = (1, 2), batch_size: int = 6144,
          quality_documents: int = 800, quality_seeds: tuple[int, ...] = (1234, 7, 99)) -> None:
    """CPU: own SGNS (windowed negatives; fresh negatives per pair) against gensim, then quality on a harder task."""
    from common import start_run, write_record

    from course_utils.text import sgns as S
    from course_utils.text.corpus import synthetic_corpus

    run = start_run("ch09.sgns_speed", seeds=[1234, *quality_seeds], threads=max(thread_counts),
                    settings={"documents": documents, "epochs": epochs, "thread_counts": list(thread_counts),
                              "batch_size": batch_size, "quality_documents": quality_documents})
    corpus = synthetic_corpus(documents, seed=1234)
    sentences = S.sentences_of(corpus.texts())
    config = S.SgnsConfig(dim=100, window=5, negatives=5, min_count=5, sample=1e-3, epochs=epochs,
                          batch_size=batch_size)
    vocabulary = S.build_vocabulary(sentences, config.min_count)
    print(f"synthetic corpus: {documents:,} documents, {vocabulary.total_tokens:,} tokens, {len(vocabulary):,} words; "
          f"{_machine()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for threads in thread_counts:
        for shared in (True, False):
            cfg = dataclasses.replace(config, shared_negatives=shared)
            result, seconds, wps, encode_s, cpu_s = _course_run(sentences, vocabulary, cfg, threads)
            score = S.category_recovery(result.vectors, corpus.categories).score
            label = "k negatives per window" if shared else "k fresh negatives per pair"
            rows.append({"run": f"course SGNS, {label}, {threads} torch thread(s)", "words_per_s": wps,
                         "seconds": seconds, "encode_s": encode_s, "cpu_s": cpu_s, "recovery_at5": score})
            print(rows[-1], flush=True)
    for workers in thread_counts:
        cpu = time.process_time()
        result = S.train_gensim(sentences, config, workers=workers)
        cpu_s = time.process_time() - cpu  # includes gensim's vocabulary build, not in its clock
        score = S.category_recovery(result.vectors, corpus.categories).score
        rows.append({"run": f"gensim Word2Vec, {workers} worker(s)", "words_per_s": result.words_per_second,
                     "seconds": result.seconds, "encode_s": 0.0, "cpu_s": cpu_s, "recovery_at5": score})
        print(rows[-1], flush=True)
    base = next(r["words_per_s"] for r in rows if r["run"].startswith("gensim") and "1 worker" in r["run"]) \
        if 1 in thread_counts else rows[-len(thread_counts)]["words_per_s"]
    for row in rows:
        row["x_gensim_1_worker"] = row["words_per_s"] / base
    print("\n| run | raw words/s | seconds (encoding included) | CPU s | x gensim 1 worker | category recovery@5 |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['run']} | {r['words_per_s']:,.0f} | {r['seconds']:.1f} | {r['cpu_s']:.1f} | "
              f"{r['x_gensim_1_worker']:.2f} | {r['recovery_at5']:.3f} |")
    # quality where gensim is not saturated: the 800-document task of the unit test (gensim 0.5-0.9 there)
    small = dataclasses.replace(config, dim=40, min_count=3, epochs=5, batch_size=1024)
    quality = []
    for seed in quality_seeds:
        planted = synthetic_corpus(quality_documents, seed=seed)
        sents = S.sentences_of(planted.texts())
        cfg = dataclasses.replace(small, seed=seed)
        scores = {"seed": seed}
        for key, shared in (("windowed", True), ("fresh_per_pair", False)):
            trained = S.train_sgns(sents, dataclasses.replace(cfg, shared_negatives=shared), device="cpu", threads=1)
            scores[key] = S.category_recovery(trained.vectors, planted.categories).score
        scores["gensim"] = S.category_recovery(S.train_gensim(sents, cfg, workers=1).vectors, planted.categories).score
        quality.append(scores)
        print(scores, flush=True)
    print(f"\nquality ({quality_documents} documents, dim 40, min count 3, 5 epochs, batch 1024, one thread; "
          "category recovery@5)\n| seed | k negatives per window | k fresh negatives per pair | gensim |\n| --- | --- | --- | --- |")
    for q in quality:
        print(f"| {q['seed']} | {q['windowed']:.3f} | {q['fresh_per_pair']:.3f} | {q['gensim']:.3f} |")
    means = {key: float(np.mean([q[key] for q in quality])) for key in ("windowed", "fresh_per_pair", "gensim")}
    spread = {key: float(np.std([q[key] for q in quality], ddof=1)) for key in means}
    print("| mean (sd) | " + " | ".join(f"{means[k]:.3f} ({spread[k]:.3f})" for k in means) + " |")
    print(f"\nsettings: {dataclasses.asdict(config)}; load average at the end {os.getloadavg()[0]:.2f}")
    path = write_record(run, figures={"speed": rows, "quality": quality, "quality_mean": means, "quality_sd": spread,
                                      "corpus_tokens": int(vocabulary.total_tokens), "vocabulary": len(vocabulary),
                                      "load_average_end": [round(x, 2) for x in os.getloadavg()]},
                        notes="speed: encoding inside the course's clock, as gensim's word lookup is inside its own; "
                              "quality: the 800-document planted task on which gensim scores 0.5-0.9")
    print(f"record: {path}")


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
    except ImportError as error:  # gensim-only installs: the SGNS rows stand on their own
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
    common.add_common(parser, threads=1)
    parser.add_argument("--batch-size", type=int, default=6144,
                        help="speed mode: pairs per update of the course's SGNS (6144: 1,024 whole windows of reach 5)")
    parser.add_argument("--thread-counts", default="1,2", help="speed mode: torch threads / gensim workers to run")
    parser.add_argument("--quality-documents", type=int, default=800,
                        help="speed mode: documents of the quality task (800: gensim scores 0.5-0.9)")
    args = parser.parse_args()
    if args.mode == "speed":
        speed(args.documents, args.epochs, tuple(int(t) for t in args.thread_counts.split(",")), args.batch_size,
              args.quality_documents)
    elif args.mode == "gpu":
        gpu(args.gpu_tokens)
    else:
        real(args.threads)


if __name__ == "__main__":
    main()
