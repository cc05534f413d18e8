"""Masked-language-model fine-tuning speed with and without LoRA (chapter 10).

Run: ``.venv/bin/python benchmarks/ch10_mlm_speed.py [STEPS [THREADS]]`` from the repository root. Prints one table row per
(model, method, device): training tokens per second through HF ``Trainer`` (the chapter's ``fine_tune``), the
trainable parameters and the AdamW state they need, and on a GPU the peak memory. Two models:

* the course's small BERT (2 x 128, the smoke profile's base model, from the cache; built if missing);
* a wider encoder (4 layers x 512, random weights, the small WordPiece vocabulary): speed only, to show how
  LoRA's saving grows with the model (a BERT-base shape, 12 x 768, is too slow for 2 CPU cores).

Each row is labelled by the device the weights were on after training (``fine_tune`` passes ``use_cpu`` for the CPU
rows, so on a GPU machine they really run on the CPU; an assertion checks it). CPU rows use THREADS torch threads
(default 2). GPU rows (bf16, ``Trainer``'s own mixed precision) run only when CUDA is present;
otherwise they print "not run (no GPU)". Uses its own work folder (``_build/bench-mlm``). Writes the record
``benchmarks/results/ch10.mlm_speed.json`` (course_utils.records), whose rows the chapter 10 results page shows.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("COURSE_WORK_DIR", str(Path("_build/bench-mlm").resolve()))
os.environ.setdefault("COURSE_PROFILE", "smoke")


def main(steps: int = 20, threads: int = 2) -> int:
    """Measure and print the table; return the exit status."""
    import torch
    from common import start_run, write_record
    from transformers import BertForMaskedLM

    from course_utils.profiles import chapter_settings
    from course_utils.text import mlm

    settings = chapter_settings(10, "smoke")
    run = start_run("ch10.mlm_speed", seeds=[settings.seed], threads=threads,
                    settings={"steps": steps, "batch_size": 16, "max_length": settings.max_length,
                              "lora_rank": settings.lora_rank, "lora_alpha": settings.lora_alpha,
                              "lora_targets": list(settings.lora_targets)})
    rows: list[dict] = []
    folder = mlm.small_bert_folder(settings)
    tokenizer, _ = mlm.load_mlm(folder, "cpu")
    texts = mlm.domain_texts(200, 1, seed=settings.seed + 1)
    examples = mlm.encode_for_mlm(tokenizer, texts, settings.max_length)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"{len(examples)} sequences of at most {settings.max_length} WordPieces; {steps} steps of batch 16; "
          f"torch {torch.__version__}; CPU threads {threads}", flush=True)
    header = ("model", "method", "device", "trainable", "AdamW state MB", "tokens/s", "peak GPU MB")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for label, make in [
        ("course small BERT 2x128", lambda: mlm.load_mlm(folder, "cpu")[1]),
        ("wider BERT 4x512 (random weights)", lambda: BertForMaskedLM(mlm.small_bert_config(
            len(tokenizer), hidden=512, layers=4, heads=8, max_length=settings.max_length,
            pad_token_id=tokenizer.pad_token_id))),
    ]:
        for device in devices:
            for method in ("full", "lora"):
                torch.set_num_threads(threads)
                model = make().to(device)
                if method == "lora":
                    model = mlm.add_lora(model, settings.lora_rank, alpha=settings.lora_alpha, targets=settings.lora_targets)
                if device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                n_steps = steps if device == "cuda" or "small" in label else max(3, steps // 5)
                start = time.perf_counter()
                result = mlm.fine_tune(model, tokenizer, examples, method=method, learning_rate=1e-4,
                                       max_steps=n_steps, batch_size=16, seed=settings.seed, device=device)
                elapsed = time.perf_counter() - start
                used = next(model.parameters()).device.type  # the device training really used labels the row
                assert used == device == torch.device(result.device).type, (used, device, result.device)
                peak = f"{torch.cuda.max_memory_allocated() / 2**20:,.0f}" if used == "cuda" else "-"
                print(f"{label} | {method} | {used} | {result.trainable:,} ({100 * result.trainable_fraction:.2f} %) | "
                      f"{2 * 4 * result.trainable / 2**20:,.1f} | {result.tokens_per_second:,.0f} | {peak}", flush=True)
                print(f"<!-- {label} {method} {device}: {n_steps} steps, {elapsed:.1f} s with set-up -->", flush=True)
                rows.append({"model": label, "method": method, "device": used, "steps": n_steps,
                             "trainable": result.trainable, "total": result.total,
                             "trainable_percent": round(100 * result.trainable_fraction, 2),
                             "adamw_state_mb": round(2 * 4 * result.trainable / 2**20, 1),
                             "tokens_per_second": round(result.tokens_per_second, 1),
                             "peak_gpu_mb": None if used != "cuda" else round(torch.cuda.max_memory_allocated() / 2**20),
                             "seconds_with_setup": round(elapsed, 1)})
                del model, result
    if "cuda" not in devices:
        print("GPU bf16 tokens/s and peak memory: not run (no GPU on this machine)")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    path = write_record(run, figures={"rows": rows, "sequences": len(examples), "gpu_rows": "cuda" in devices},
                        times={"cpu": usage.ru_utime + usage.ru_stime})
    print(f"record: {path}")
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("numbers", type=int, nargs="*", metavar="STEPS THREADS",
                        help="training steps per row and CPU threads (defaults: main's)")
    raise SystemExit(main(*parser.parse_args().numbers[:2]))
