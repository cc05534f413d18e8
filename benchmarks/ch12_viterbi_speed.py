"""Chapter 12 benchmark: the course's batched Viterbi against pytorch-crf's decode on CPU, one run.

Batch 64, length 256, 31 tags (the Ruijin tag set), random emissions and CRF parameters; both decoders get the
same inputs; paths must be identical; the ratio of the best of ``--repeats`` timings is printed and written as
the record ``benchmarks/results/ch12.viterbi_speed.json`` (``ch12.viterbi_speed_ragged`` with ``--ragged``),
with the load average it ran at (a time taken on a busy machine says so there).

    .venv/bin/python benchmarks/ch12_viterbi_speed.py            # goal: at least 5x, identical paths
"""

from __future__ import annotations

import argparse
import time

import common  # benchmarks/common.py: the script's own folder is on sys.path
import torch
from common import start_run, write_record
from torchcrf import CRF

from course_utils.ie.crf import batched_viterbi, crf_parameters


def _best_time(fn, repeats: int) -> tuple[float, object]:  # noqa: ANN001
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--tags", type=int, default=31)
    parser.add_argument("--repeats", type=int, default=5)
    common.add_common(parser, threads=1)
    parser.add_argument("--ragged", action="store_true", help="random sequence lengths instead of full ones")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    run = start_run("ch12.viterbi_speed" + ("_ragged" if args.ragged else ""), seeds=[0], threads=args.threads,
                    settings={k: v for k, v in vars(args).items() if k != "no_record"})
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    crf = CRF(args.tags, batch_first=True)
    for p in crf.parameters():
        torch.nn.init.normal_(p)
    params = tuple(p.detach() for p in crf_parameters(crf))
    emissions = torch.randn(args.batch, args.length, args.tags)
    lengths = torch.full((args.batch,), args.length)
    if args.ragged:
        lengths = torch.randint(1, args.length + 1, (args.batch,))
        lengths[0] = args.length
    mask = torch.arange(args.length)[None] < lengths[:, None]
    with torch.no_grad():
        theirs_s, theirs = _best_time(lambda: crf.decode(emissions, mask), args.repeats)
        ours_s, ours = _best_time(lambda: batched_viterbi(emissions, mask, *params), args.repeats)
    identical = [ours[i, :lengths[i]].tolist() for i in range(args.batch)] == theirs
    print(f"batch {args.batch}, length {args.length}, {args.tags} tags, {args.threads} thread(s), "
          f"best of {args.repeats}")
    print(f"pytorch-crf decode   {theirs_s * 1000:8.1f} ms")
    print(f"batched Viterbi      {ours_s * 1000:8.1f} ms")
    print(f"speed-up {theirs_s / ours_s:.1f}x; identical paths: {identical}")
    if not args.no_record:
        print("record:", write_record(run, figures={"pytorch_crf_ms": theirs_s * 1000, "batched_viterbi_ms": ours_s * 1000,
                                                    "speedup": theirs_s / ours_s, "identical_paths": identical}))
    if not identical:
        raise SystemExit("paths differ")


if __name__ == "__main__":
    main()
