"""Chapter 6's training as a command: train (and resume) folds, predict the held-out cases, evaluate (chapter 6).

A long training inside one notebook cell dies with the notebook's kernel. This command does the same work in a
terminal (or a cluster job) with the active profile's settings and writes into the same work folder, so the
notebook then reads the trained folds and predictions instead of making them::

    python -m course_utils.imaging.nnunet_cli train              # every fold of the profile; resumes if interrupted
    python -m course_utils.imaging.nnunet_cli train --folds 0    # one fold
    python -m course_utils.imaging.nnunet_cli predict            # held-out cases, each fold and the ensemble
    python -m course_utils.imaging.nnunet_cli evaluate           # Dice and HD95 per case, written as CSV
    python -m course_utils.imaging.nnunet_cli train --regions    # the BraTS-regions dataset (four channels)

``COURSE_PROFILE`` and ``COURSE_WORK_DIR`` choose the profile and folder, as for the notebooks. A fold folder
holding a model the course did not train with this schedule is never deleted: see ``--existing``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..paths import work_dir
from ..profiles import CHAPTERS, chapter_settings, resolve_profile
from . import nnunet_infer as ni
from . import nnunet_train as nt
from .nnunet_data import nnunet_environment
from .pipeline import PreparedDataset, prepare_nnunet

__all__ = ["prediction_runs", "prediction_folder", "scores_file", "preprocess_configuration", "run_train", "run_predict", "run_evaluate", "main"]


def prediction_runs(folds: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """Return {run name: folds} of chapter 6's test predictions: each fold alone, and the ensemble of all of them
    when there are several (one fold "ensembled" with itself would only predict the same thing twice)."""
    runs = {f"fold {f}": (int(f),) for f in folds}
    if len(runs) > 1:
        runs["ensemble"] = tuple(int(f) for f in folds)
    return runs


def prediction_folder(name: str, *, regions: bool = False, root: Path | None = None) -> Path:
    """Return the folder chapter 6 writes the held-out predictions of run ``name`` to (shared with the notebook)."""
    folder = name.replace(" ", "_")
    return (root or work_dir()) / "chapter6" / (f"regions_{folder}" if regions else folder)


def scores_file(*, regions: bool = False, root: Path | None = None) -> Path:
    """Return the CSV file ``evaluate`` writes the per-case test scores of every run to."""
    return (root or work_dir()) / "chapter6" / ("test_scores_regions.csv" if regions else "test_scores.csv")


def _settings() -> Any:
    return chapter_settings(6, resolve_profile(CHAPTERS[6].datasets).profile)


def preprocess_configuration(prepared: PreparedDataset, configuration: str) -> Path:
    """Return the preprocessed folder of another ``configuration`` of a prepared dataset (e.g. ``2d`` beside
    ``3d_fullres``), running nnU-Net's preprocessing for it once (locked; chapter 6)."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import preprocess

    if configuration not in prepared.plans["configurations"]:
        raise ValueError(f"nnU-Net planned no configuration {configuration!r} for {prepared.raw.name}; it planned "
                         f"{', '.join(prepared.plans['configurations'])}.")
    identifier = prepared.plans["configurations"][configuration]["data_identifier"]
    name = prepared.raw.name
    folder = prepared.folders.preprocessed / name / identifier
    marker = folder / ".course-complete"
    with open(prepared.folders.preprocessed / f".{name}.{configuration}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if not marker.is_file():
                cores = max(1, min(os.cpu_count() or 1, 8))
                with nnunet_environment(prepared.folders, n_proc=cores), contextlib.redirect_stdout(io.StringIO()):
                    preprocess([prepared.dataset_id], configurations=(configuration,), num_processes=(cores,),
                               show_progress_bar=False)
                marker.write_text(configuration)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return folder


def run_train(settings: Any, *, folds: Sequence[int] | None = None, regions: bool = False, existing: str = "refuse",
              configuration: str | None = None) -> tuple[PreparedDataset, dict[int, Path]]:
    """Return the prepared dataset and {fold: folder} after training (or reusing, or resuming) the folds."""
    prepared = prepare_nnunet(settings, regions=regions)
    if configuration and configuration != settings.configuration:
        preprocess_configuration(prepared, configuration)
    schedule = nt.schedule_from(settings)
    done = {int(f): nt.train_fold(prepared.dataset_id, prepared.folders, int(f), schedule, seed=settings.seed,
                                  configuration=configuration or settings.configuration, existing=existing,
                                  compile_network=settings.compile_network,
                                  save_probabilities=bool(settings.extra_configurations),
                                  mirroring=settings.test_time_mirroring)
            for f in (settings.folds if folds is None else folds)}
    return prepared, done


def run_predict(settings: Any, *, regions: bool = False) -> dict[str, dict[str, Path]]:
    """Return {run name: {case id: prediction}} of the held-out cases, predicted by the trained folds."""
    prepared, trained = run_train(settings, regions=regions, existing="reuse")
    cases = ni.heldout_cases(prepared, settings)
    model_dir = next(iter(trained.values())).parent
    return {name: ni.predict_heldout(model_dir, prepared.folders, cases, prediction_folder(name, regions=regions), folds=folds,
                                     mirroring=settings.test_time_mirroring)
            for name, folds in prediction_runs(settings.folds).items()}


def run_evaluate(settings: Any, *, regions: bool = False) -> pd.DataFrame:
    """Return the per-case scores of every run (written to :func:`scores_file`): Dice and HD95, or region Dice."""
    prepared, _ = run_train(settings, regions=regions, existing="reuse")
    cases = ni.heldout_cases(prepared, settings)
    frames = []
    for name, predictions in run_predict(settings, regions=regions).items():
        if regions:
            frame = ni.evaluate_regions(predictions, cases)
        else:
            frame = ni.scores_frame(ni.evaluate_predictions(predictions, cases))
            frame = frame[frame["case"] != "mean"]
        frames.append(frame.assign(run=name))
    table = pd.concat(frames, ignore_index=True)
    path = scores_file(regions=regions)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m course_utils.imaging.nnunet_cli", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("train", "predict", "evaluate"))
    parser.add_argument("--folds", type=int, nargs="+", help="folds to train (default: the profile's)")
    parser.add_argument("--regions", action="store_true", help="the BraTS-regions dataset instead of whole tumour")
    parser.add_argument("--configuration", help="train this configuration (e.g. 2d) instead of the profile's")
    parser.add_argument("--existing", choices=nt.EXISTING_CHOICES, default="refuse",
                        help="a fold folder holding a model the course did not train with this schedule: refuse "
                             "(default, nothing deleted), reuse it as it is, or overwrite it")
    args = parser.parse_args(argv)
    settings = _settings()
    if args.action == "train":
        _, trained = run_train(settings, folds=args.folds, regions=args.regions, existing=args.existing,
                               configuration=args.configuration)
        for fold, folder in trained.items():
            print(f"fold {fold}: {folder} (validation Dice {nt.fold_summary(folder)['foreground_mean']['Dice']:.4f})")
    elif args.action == "predict":
        for name, files in run_predict(settings, regions=args.regions).items():
            print(f"{name}: {len(files)} cases in {prediction_folder(name, regions=args.regions)}")
    else:
        table = run_evaluate(settings, regions=args.regions)
        print(table.drop(columns="case").groupby("run").mean().round(4).to_string())
        print(f"per case: {scores_file(regions=args.regions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
