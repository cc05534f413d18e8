"""Benchmark (chapter 7): the four tokenizer tracks on 40 MB of real titles and abstracts.

Target (issue 12): regex + WordPiece + BPE encoding of 40 MB at most 15 s together on 2 cores, with the fast
batch APIs (``encode_batch_fast``: ids without character offsets or piece strings, what a model needs); NLTK and BPE training timed separately; each track beside the seed's way as a ratio (the regex in a
per-line Python loop, WordPiece on 512-character chunks one call each, BPE one call per line).

The text is made at run time, never saved: every real abstract under ``COURSE_REAL_DATA`` (CORD-19 sample,
BioRED, LitCoin, NCBI-disease; ``course_utils.text.readers.real_abstracts``), split into sentences, shuffled
and repeated until 40 MB, then grouped into pseudo-abstracts of 8 sentences. The BPE is trained once on the
unique real text (not the repeats). The seed's loops, and NLTK, are slow: by default they run on a slice
(``--baseline-mb``, ``--nltk-mb``) and are compared by throughput (MB/s). Run::

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/ch07_tokenizers.py
    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/ch07_tokenizers.py --mb 5   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


def _mb(texts: list[str]) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


def build_text(root: Path, target_mb: float, seed: int) -> tuple[list[str], list[str]]:
    """Return (unique real texts, pseudo-abstracts of shuffled repeated sentences totalling target_mb)."""
    from course_utils.text.readers import real_abstracts
    from course_utils.text.tokenize import sentences

    docs = real_abstracts(root, exclude_eval=False)
    unique = [d.text for d in docs]
    pool = [s for t in unique for s in sentences(t)]
    rng = random.Random(seed)
    out: list[str] = []
    size = 0.0
    target = target_mb * 1e6
    while size < target:
        batch = pool[:]
        rng.shuffle(batch)
        for i in range(0, len(batch), 8):
            text = " ".join(batch[i : i + 8])
            out.append(text)
            size += len(text.encode("utf-8"))
            if size >= target:
                break
    return unique, out


def slice_mb(texts: list[str], mb: float) -> list[str]:
    out, size = [], 0.0
    for t in texts:
        if size >= mb * 1e6:
            break
        out.append(t)
        size += len(t.encode("utf-8"))
    return out


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None,
                        help="real-data folder (default: $COURSE_REAL_DATA, else ../shared/data)")
    parser.add_argument("--mb", type=float, default=40.0)
    parser.add_argument("--baseline-mb", type=float, default=4.0, help="slice for the seed's loops")
    parser.add_argument("--nltk-mb", type=float, default=1.0, help="slice for NLTK")
    parser.add_argument("--bpe-vocab", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=1000, help="texts per batch call")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    common.add_common(parser, threads=None, seed=1234, out=True)
    args = parser.parse_args(argv)
    run = common.begin("ch07.tokenizers_40mb", args)

    from course_utils.text import tokenizers as T

    root = args.root or common.data_root()
    if not root.is_dir():
        print(f"No real data at {root}: set COURSE_REAL_DATA to a folder like ../shared/data.", file=sys.stderr)
        return 2
    (unique, texts), build_s = timed(build_text, root, args.mb, args.seed)
    total_mb = _mb(texts)
    print(f"text: {len(unique):,} unique real abstracts ({_mb(unique):.1f} MB) -> {len(texts):,} pseudo-abstracts, "
          f"{total_mb:.1f} MB (built in {build_s:.1f} s)")

    wordpiece = T.wordpiece_tokenizer("minilm")
    backend = wordpiece.backend_tokenizer
    bpe, bpe_train_s = timed(T.train_bpe, unique, args.bpe_vocab)
    print(f"BPE training on the unique text ({_mb(unique):.1f} MB, vocabulary {bpe.get_vocab_size():,}): {bpe_train_s:.1f} s")

    rows = {}
    # fast paths on the whole text, in batches of --batch texts; pieces are counted and dropped, as a pipeline
    # that writes them out would (holding every piece of 40 MB at once costs gigabytes and time)
    def in_batches(encode):
        n = 0
        for i in range(0, len(texts), args.batch):
            n += encode(texts[i : i + args.batch])
        return n

    regex_n, regex_s = timed(in_batches, lambda b: sum(len(t) for t in T.regex_tokenize_batch(b)))
    wp_n, wp_s = timed(in_batches, lambda b: sum(len(e.ids) for e in backend.encode_batch_fast(b, add_special_tokens=False)))
    bpe_n, bpe_s = timed(in_batches, lambda b: sum(len(e.ids) for e in bpe.encode_batch_fast(b)))
    fast_total = regex_s + wp_s + bpe_s
    rows["regex"] = {"seconds": regex_s, "MB/s": total_mb / regex_s, "tokens": regex_n}
    rows["wordpiece"] = {"seconds": wp_s, "MB/s": total_mb / wp_s, "tokens": wp_n}
    rows["bpe"] = {"seconds": bpe_s, "MB/s": total_mb / bpe_s, "tokens": bpe_n}

    # the seed's ways on a slice, as one file of lines
    base = slice_mb(texts, args.baseline_mb)
    base_mb = _mb(base)
    seed_file = "\n".join(base)
    _, seed_regex_s = timed(T.regex_tokenize_lines, seed_file)
    _, seed_wp_s = timed(T.wordpiece_chunked, seed_file, wordpiece, 512)
    _, seed_bpe_s = timed(lambda lines: [bpe.encode(line) for line in lines], base)
    rows["regex"]["seed way MB/s"] = base_mb / seed_regex_s
    rows["wordpiece"]["seed way MB/s"] = base_mb / seed_wp_s
    rows["bpe"]["seed way MB/s"] = base_mb / seed_bpe_s
    cut = T.count_cut_words(seed_file, 512)
    # ignore_merges (train_bpe's default) must not change a single piece: compare with merges replayed
    spec = json.loads(bpe.to_str())
    spec["model"]["ignore_merges"] = False
    replay = type(bpe).from_str(json.dumps(spec))
    same = all(a.ids == b.ids for a, b in zip(bpe.encode_batch_fast(base), replay.encode_batch_fast(base)))
    print(f"BPE with ignore_merges gives the same pieces as replayed merges on the {base_mb:.1f} MB slice: {same}")

    # NLTK on its own slice
    T.punkt_data_dir()
    nl = slice_mb(texts, args.nltk_mb)
    nltk_tokens, nltk_s = timed(T.nltk_tokenize_batch, nl)
    rows["nltk"] = {"seconds": nltk_s, "MB/s": _mb(nl) / nltk_s, "tokens": sum(map(len, nltk_tokens)),
                    "on MB": _mb(nl)}

    print(f"\n{'track':<10} {'MB/s':>8} {'seed way MB/s':>14} {'speed-up':>9} {'seconds':>8}")
    for name in ("regex", "wordpiece", "bpe", "nltk"):
        r = rows[name]
        seed_rate = r.get("seed way MB/s")
        ratio = f"{r['MB/s'] / seed_rate:8.1f}x" if seed_rate else "        -"
        seed_txt = f"{seed_rate:14.2f}" if seed_rate else f"{'-':>14}"
        print(f"{name:<10} {r['MB/s']:8.2f} {seed_txt} {ratio} {r['seconds']:8.1f}")
    verdict = "PASS" if fast_total <= 15 and same else "FAIL"
    print(f"\nregex + WordPiece + BPE encoding of {total_mb:.1f} MB: {fast_total:.1f} s (target <= 15 s): {verdict}")
    print(f"NLTK on {rows['nltk']['on MB']:.1f} MB: {nltk_s:.1f} s ({rows['nltk']['MB/s']:.2f} MB/s; 40 MB would take "
          f"about {40 / rows['nltk']['MB/s'] / 60:.0f} min)")
    print(f"BPE training: {bpe_train_s:.1f} s; 512-character chunks cut {cut:,} words in the {base_mb:.1f} MB slice")
    print(f"machine: {os.cpu_count()} CPUs visible (shared with other jobs when the load is high: "
          f"load average {os.getloadavg()[0]:.1f})")
    figures = {"total_mb": total_mb, "fast_total_s": fast_total, "bpe_train_s": bpe_train_s, "cut_words": cut,
               "baseline_mb": base_mb, "bpe_ignore_merges_identical": same, "tracks": rows, "load_average": os.getloadavg()[0]}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    common.finish(run, {**figures, "verdict": verdict}, data={"real_data": root}, out=args.out)
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
