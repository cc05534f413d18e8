"""Chapter 6's whole smoke workflow for one seed: train the folds, cross-validate, choose post-processing,
predict the held-out cases with each fold and with the ensemble, and score them (Dice, HD95).

Run: ``.venv/bin/python benchmarks/ch06_smoke_training.py SEED [EPOCHS ITERATIONS]`` (from the repository root).
Prints the time of each step and every score, appends one JSON line to
``_build/bench-smoke-training/results.jsonl`` and writes the record ``benchmarks/results/ch06.smoke_training.seedN.json``. Uses a private work folder per seed and schedule.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from common import start_run, write_record

from course_utils.imaging import nnunet_eval as ne
from course_utils.imaging import nnunet_infer as ni
from course_utils.imaging import nnunet_train as nt
from course_utils.imaging.pipeline import prepare_nnunet
from course_utils.profiles import chapter_settings


def main(seed: int, epochs: int | None = None, iterations: int | None = None) -> int:
    """Run the benchmark for ``seed`` (and optionally another schedule); return the exit status."""
    settings = chapter_settings(6, "smoke")
    settings = dataclasses.replace(settings, seed=seed, num_epochs=epochs or settings.num_epochs,
                                   iterations_per_epoch=iterations or settings.iterations_per_epoch)
    schedule = nt.schedule_from(settings)
    run = start_run(f"ch06.smoke_training.seed{seed}", seeds=[seed], threads=1,
                    settings={"schedule": dataclasses.asdict(schedule), "folds": list(settings.folds),
                              "test_time_mirroring": settings.test_time_mirroring})
    root = Path("_build/bench-smoke-training") / f"seed{seed}_{schedule.num_epochs}x{schedule.iterations_per_epoch}"
    result: dict[str, object] = {"seed": seed, "schedule": dataclasses.asdict(schedule), "folds": list(settings.folds)}
    start = time.perf_counter()

    def lap(name: str) -> None:
        result[f"t_{name}_s"] = round(time.perf_counter() - start, 1)
        print(f"{name}: {result[f't_{name}_s']} s", flush=True)

    prepared = prepare_nnunet(settings, root=root / "nnunet")
    lap("prepared")
    for fold in settings.folds:
        nt.train_fold(prepared.dataset_id, prepared.folders, fold, schedule, seed=seed,
                      mirroring=settings.test_time_mirroring)
        lap(f"trained_fold{fold}")
    cv = ne.cross_validation(prepared.dataset_id, prepared.folders, settings.folds)
    choice = ne.select_postprocessing(cv, prepared.dataset_id, prepared.folders)
    result.update(cv_fold_dice=cv.per_fold["mean Dice"].round(4).tolist(), cv_mean_of_folds=round(cv.mean_of_folds, 4),
                  cv_pooled_dice=round(cv.pooled_dice, 4), postprocessing=choice.keep_largest_component,
                  cv_dice_largest_component_only=round(choice.dice_filtered, 4))
    lap("cross_validated")
    model_dir = nt.fold_folder(prepared.dataset_id, prepared.folders, settings.folds[0]).parent
    cases = ni.heldout_cases(prepared, settings)
    from course_utils.imaging.nnunet_cli import prediction_runs

    for name, folds in prediction_runs(settings.folds).items():
        name = name.replace(" ", "")
        predictions = ni.predict_cases(model_dir, prepared.folders, cases, root / f"pred_{name}", folds=folds,
                                       mirroring=settings.test_time_mirroring)
        scores = ni.evaluate_predictions(predictions, cases)
        result[f"test_dice_{name}"] = round(ni.mean_dice(scores), 4)
        result[f"test_hd95_{name}"] = round(ni.mean_hd95(scores), 2)
        result[f"test_hd95_undefined_{name}"] = ni.count_undefined_hd95(scores)
        lap(f"predicted_{name}")
    import resource

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = round(cpu.ru_utime + cpu.ru_stime, 1)
    write_record(run, figures={k: v for k, v in result.items() if not k.startswith("t_") and k != "cpu_s"},
                 times={"cpu_s": result["cpu_s"], **{k: v for k, v in result.items() if k.startswith("t_")}},
                 data={"synthetic_cases": prepared.raw})
    print(json.dumps(result))
    out = Path("_build/bench-smoke-training/results.jsonl")
    with out.open("a") as handle:
        handle.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", type=int, nargs="?", default=1234, help="seed (default 1234)")
    parser.add_argument("schedule", type=int, nargs="*", metavar="EPOCHS ITERATIONS",
                        help="another schedule than the smoke profile's")
    cli = parser.parse_args()
    sys.exit(main(cli.seed, *cli.schedule[:2]))
