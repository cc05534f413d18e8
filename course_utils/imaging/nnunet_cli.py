"""Chapter 6's training as a command: train (and resume) folds, predict the held-out cases, evaluate (chapter 6).

A long training inside one notebook cell dies with the notebook's kernel. This command does the same work in a
terminal (or a cluster job) with the active profile's settings and writes into the same work folder, so the
notebook then reads the trained folds and predictions instead of making them::

    python -m course_utils.imaging.nnunet_cli train              # every fold of the profile; resumes if interrupted
    python -m course_utils.imaging.nnunet_cli train --folds 0    # one fold
    python -m course_utils.imaging.nnunet_cli train --configuration 2d   # full: the configuration beside 3d_fullres
    python -m course_utils.imaging.nnunet_cli predict            # held-out cases, each fold and the ensemble
    python -m course_utils.imaging.nnunet_cli evaluate           # Dice and HD95 per case, written as CSV
    python -m course_utils.imaging.nnunet_cli train --regions    # the BraTS-regions dataset (four channels)
    python -m course_utils.imaging.nnunet_cli adopt FOLDER       # a model nnUNetv2_train trained (e.g. on several GPUs)

``COURSE_PROFILE`` and ``COURSE_WORK_DIR`` choose the profile and folder, as for the notebooks. A fold folder
holding a model the course did not train with this schedule is never deleted: see ``--existing``. ``adopt`` checks
a model that nnU-Net's own command trained (same plans, dataset and fingerprint; one finished folder per fold),
copies it into the course's fold folders with a record of where it came from, and validates it if it was not;
the notebook then uses it instead of training.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..paths import work_dir
from ..profiles import CHAPTERS, chapter_settings, resolve_profile
from . import nnunet_eval as ne
from . import nnunet_infer as ni
from . import nnunet_train as nt
from .nnunet_data import nnunet_environment
from .pipeline import PreparedDataset, prepare_nnunet

__all__ = ["prediction_runs", "prediction_folder", "scores_file", "preprocess_configuration", "run_train", "run_adopt",
           "adopt_command", "choose_configuration", "run_predict", "run_evaluate", "main"]


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
    # beside the data folder, not in it: nnU-Net infers the dataset format from the endings of the files in it
    marker = prepared.folders.preprocessed / name / f".course-complete.{identifier}"
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


def run_adopt(settings: Any, source: str | os.PathLike[str], *, folds: Sequence[int] | None = None,
              regions: bool = False, configuration: str | None = None) -> dict[int, Path]:
    """Return {fold: course fold folder} after adopting a model that ``nnUNetv2_train`` wrote under ``source``
    (:func:`~course_utils.imaging.nnunet_train.adopt_folds`: plans and fold layout checked, nothing deleted,
    the choice recorded; chapter 6)."""
    prepared = prepare_nnunet(settings, regions=regions)
    chosen = configuration or settings.configuration
    if chosen != settings.configuration:
        preprocess_configuration(prepared, chosen)
    return nt.adopt_folds(prepared.dataset_id, prepared.folders, source, settings.folds if folds is None else folds,
                          configuration=chosen, schedule=nt.schedule_from(settings),
                          save_probabilities=bool(settings.extra_configurations), mirroring=settings.test_time_mirroring,
                          compile_network=settings.compile_network)


def adopt_command(source: str | os.PathLike[str], profile: str, *, work: Path | None = None,
                  configuration: str | None = None) -> str:
    """Return the shell command that adopts the model under ``source`` for ``profile`` (chapter 6), paths quoted."""
    parts = [f"COURSE_PROFILE={shlex.quote(profile)}", f"COURSE_WORK_DIR={shlex.quote(str(work or work_dir()))}",
             "python -m course_utils.imaging.nnunet_cli adopt", shlex.quote(str(source))]
    if configuration:
        parts.append(f"--configuration {shlex.quote(configuration)}")
    return " ".join(parts)


def choose_configuration(settings: Any) -> tuple[str, pd.Series]:
    """Return nnU-Net's empirical choice among the profile's configurations and the pooled cross-validation Dice
    of every candidate (chapter 6, section 6.5).

    With ``extra_configurations`` (the full profile: 2d beside 3d_fullres) each configuration's folds are trained
    (or reused, or adopted before), then nnU-Net's ``find_best_configuration`` compares them and their ensemble
    (:func:`~course_utils.imaging.nnunet_eval.best_configuration`). With one configuration there is no choice:
    its pooled cross-validation Dice is returned under the name ``"<configuration> (the only one trained)"``.
    """
    prepared, _ = run_train(settings)
    configurations = (settings.configuration, *settings.extra_configurations)
    for extra in settings.extra_configurations:
        run_train(settings, configuration=extra)
    if len(configurations) == 1:
        cv = ne.cross_validation(prepared.dataset_id, prepared.folders, settings.folds, settings.configuration)
        return settings.configuration, pd.Series({f"{settings.configuration} (the only one trained)": cv.pooled_dice},
                                                 name="pooled cross-validation Dice")
    return ne.best_configuration(prepared.dataset_id, prepared.folders, configurations, settings.folds)


def run_predict(settings: Any, *, regions: bool = False) -> dict[str, dict[str, Path]]:
    """Return {run name: {case id: prediction}} of the held-out cases, predicted by the trained (or adopted) folds."""
    prepared, trained = run_train(settings, regions=regions)
    cases = ni.heldout_cases(prepared, settings)
    model_dir = next(iter(trained.values())).parent
    return {name: ni.predict_heldout(model_dir, prepared.folders, cases, prediction_folder(name, regions=regions), folds=folds,
                                     mirroring=settings.test_time_mirroring)
            for name, folds in prediction_runs(settings.folds).items()}


def run_evaluate(settings: Any, *, regions: bool = False) -> pd.DataFrame:
    """Return the per-case scores of every run (written to :func:`scores_file`): Dice and HD95, or region Dice."""
    prepared, _ = run_train(settings, regions=regions)
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
    parser.add_argument("action", choices=("train", "predict", "evaluate", "adopt"))
    parser.add_argument("folder", nargs="?", type=Path,
                        help="adopt: the nnUNet_results folder (or model, or fold folder) nnUNetv2_train wrote to")
    parser.add_argument("--folds", type=int, nargs="+", help="folds to train (default: the profile's)")
    parser.add_argument("--regions", action="store_true", help="the BraTS-regions dataset instead of whole tumour")
    parser.add_argument("--configuration", help="train (or adopt) this configuration (e.g. 2d) instead of the profile's")
    parser.add_argument("--existing", choices=nt.EXISTING_CHOICES, default="refuse",
                        help="a fold folder holding a model the course did not train with this schedule: refuse "
                             "(default, nothing deleted), reuse it (adopted in place after its plans are checked, "
                             "and recorded), or overwrite it (deletes it)")
    args = parser.parse_args(argv)
    if (args.folder is not None) != (args.action == "adopt"):
        parser.error("give a FOLDER with adopt (the nnUNet_results folder nnUNetv2_train wrote to), and only with adopt")
    settings = _settings()
    if args.action == "adopt":
        for fold, folder in run_adopt(settings, args.folder, folds=args.folds, regions=args.regions,
                                      configuration=args.configuration).items():
            record = nt.fold_record(folder)
            print(f"fold {fold}: {folder} adopted from {record.source if record else '?'} ({record.epochs if record else '?'} "
                  f"epochs; validation Dice {nt.fold_summary(folder)['foreground_mean']['Dice']:.4f})")
    elif args.action == "train":
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
