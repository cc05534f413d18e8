"""Train the smoke nnU-Net model for one seed and score it on held-out synthetic cases (chapter 6).

Run: ``.venv/bin/python benchmarks/smoke_training.py SEED`` (from the repository root). Prints the time of each
step, the fold-0 validation Dice and the held-out Dice per case. Uses a private work folder per seed.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from course_utils.imaging import nnunet_infer as ni
from course_utils.imaging import nnunet_train as nt
from course_utils.imaging.pipeline import prepare_nnunet
from course_utils.profiles import chapter_settings


def main(seed: int) -> int:
    """Run the benchmark for ``seed``; return the exit status."""
    settings = dataclasses.replace(chapter_settings(6, "smoke"), seed=seed)
    root = Path(f"_build/bench-smoke-training/seed{seed}")
    start = time.perf_counter()
    prepared = prepare_nnunet(settings, root=root / "nnunet")
    print(f"prepared in {time.perf_counter() - start:.0f} s", flush=True)
    fold = nt.train_fold(prepared.dataset_id, prepared.folders, 0, nt.schedule_from(settings), seed=seed)
    validation = nt.fold_summary(fold)["foreground_mean"]["Dice"]
    print(f"trained in {time.perf_counter() - start:.0f} s; fold-0 validation Dice {validation:.3f}", flush=True)
    cases = ni.heldout_cases(settings)
    scores = ni.evaluate_predictions(ni.predict_cases(fold.parent, prepared.folders, cases, root / "pred"), cases)
    print(f"predicted in {time.perf_counter() - start:.0f} s; held-out Dice "
          f"{[round(s.dice, 3) for s in scores]} mean {ni.mean_dice(scores):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1234))
