"""Chapter 6's training as a command: train (and resume) folds, predict the held-out cases, evaluate (chapter 6).

A long training inside one notebook cell dies with the notebook's kernel. This command does the same work in a
terminal (or a cluster job) with the active profile's settings and writes into the same work folder, so the
notebook then reads the trained folds and predictions instead of making them::

    python -m course_utils.imaging.nnunet_cli train              # every fold of the profile; resumes if interrupted
    python -m course_utils.imaging.nnunet_cli train --folds 0    # one fold
    python -m course_utils.imaging.nnunet_cli train --configuration 2d   # full: the configuration beside 3d_fullres
    python -m course_utils.imaging.nnunet_cli predict            # held-out cases, each fold and the ensemble
    python -m course_utils.imaging.nnunet_cli evaluate           # Dice and HD95 per case after post-processing, CSV
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

from ..commands import Verb, non_negative_int, run_command
from ..errors import CourseError
from ..paths import work_dir
from ..profiles import CHAPTERS, chapter_settings, resolve_profile
from . import nnunet_eval as ne
from . import nnunet_infer as ni
from . import nnunet_train as nt
from .nnunet_data import nnunet_environment
from .pipeline import PreparedDataset, prepare_nnunet

__all__ = ["prediction_runs", "prediction_folder", "scores_file", "preprocess_configuration", "run_train", "run_adopt",
           "adopt_command", "choose_configuration", "run_predict", "run_evaluate", "postprocessed_folder", "postprocess_predictions", "main", "VERBS", "CommandInputError",
           "NNUNET_CONFIGURATIONS"]


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
        raise CommandInputError(f"nnU-Net planned no configuration {configuration!r} for {prepared.raw.name}; it planned "
                                f"{', '.join(prepared.plans['configurations'])}: choose one of those.")
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


def postprocessed_folder(name: str, *, root: Path | None = None) -> Path:
    """Return the folder of run ``name``'s held-out predictions after nnU-Net's chosen post-processing (shared with
    the notebook, chapter 6, section 6.6)."""
    return (root or work_dir()) / "chapter6" / f"{name.replace(' ', '_')}_pp"


def postprocess_predictions(settings: Any, prepared: PreparedDataset, runs: dict[str, dict[str, Path]],
                            model_dir: Path) -> dict[str, dict[str, Path]]:
    """Return {run name: {case id: prediction}} after nnU-Net's post-processing choice, made on the pooled
    cross-validation of the trained folds, is applied to every run (chapter 6's section 6.6; the notebook and the
    command's ``evaluate`` score these same files)."""
    cv = ne.cross_validation(prepared.dataset_id, prepared.folders, settings.folds, settings.configuration)
    choice = ne.select_postprocessing(cv, prepared.dataset_id, prepared.folders)
    return {name: ne.apply_postprocessing(choice, predictions, postprocessed_folder(name), model_dir / "plans.json",
                                          model_dir / "dataset.json")
            for name, predictions in runs.items()}


def run_evaluate(settings: Any, *, regions: bool = False) -> pd.DataFrame:
    """Return the per-case scores of every run (written to :func:`scores_file`): Dice and HD95 after nnU-Net's
    chosen post-processing (the predictions chapter 6's table scores), or region Dice of the raw predictions (the
    regions dataset gets no post-processing choice in chapter 6). The CSV appears whole or not at all."""
    prepared, trained = run_train(settings, regions=regions)
    cases = ni.heldout_cases(prepared, settings)
    runs = run_predict(settings, regions=regions)
    if not regions:
        runs = postprocess_predictions(settings, prepared, runs, next(iter(trained.values())).parent)
    frames = []
    for name, predictions in runs.items():
        if regions:
            frame = ni.evaluate_regions(predictions, cases)
        else:
            frame = ni.scores_frame(ni.evaluate_predictions(predictions, cases))
            frame = frame[frame["case"] != "mean"]
        frames.append(frame.assign(run=name, postprocessing="none" if regions else "nnU-Net's choice"))
    table = pd.concat(frames, ignore_index=True)
    path = scores_file(regions=regions)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    table.to_csv(partial, index=False)
    partial.replace(path)
    return table


#: The configurations nnU-Net v2 can plan (``nnUNetv2_plan_and_preprocess -c``); which of them it did plan for a
#: dataset is in its plans.
NNUNET_CONFIGURATIONS = ("2d", "3d_fullres", "3d_lowres", "3d_cascade_fullres")
#: nnU-Net's default cross-validation splits the training cases into this many folds (0 to 4).
N_FOLDS = 5


class CommandInputError(CourseError, ValueError):
    """Input that chapter 6's command cannot use: a fold or configuration that does not exist (chapter 6)."""


def _check_folds(folds: Sequence[int] | None) -> None:
    for fold in folds or ():
        if not 0 <= fold < N_FOLDS:
            raise CommandInputError(f"--folds {fold}: there is no fold {fold}; nnU-Net splits the training cases into "
                                    f"{N_FOLDS} folds, 0 to {N_FOLDS - 1}. Give folds in that range, e.g. --folds 0 1.")


def _check_configuration(configuration: str | None) -> None:
    if configuration is not None and configuration not in NNUNET_CONFIGURATIONS:
        raise CommandInputError(f"--configuration {configuration!r} is not one of nnU-Net's configurations "
                                f"({', '.join(NNUNET_CONFIGURATIONS)}); check its spelling.")


def _verb_train(args: argparse.Namespace) -> int:
    _check_folds(args.folds)
    _check_configuration(args.configuration)
    _, trained = run_train(_settings(), folds=args.folds, regions=args.regions, existing=args.existing,
                           configuration=args.configuration)
    for fold, folder in trained.items():
        print(f"fold {fold}: {folder} (validation Dice {nt.fold_summary(folder)['foreground_mean']['Dice']:.4f})")
    return 0


def _verb_adopt(args: argparse.Namespace) -> int:
    _check_folds(args.folds)
    _check_configuration(args.configuration)
    nt.check_adoption_source(args.folder)  # before any work: a missing, empty or unreadable folder stops here
    for fold, folder in run_adopt(_settings(), args.folder, folds=args.folds, regions=args.regions,
                                  configuration=args.configuration).items():
        record = nt.fold_record(folder)
        print(f"fold {fold}: {folder} adopted from {record.source if record else '?'} ({record.epochs if record else '?'} "
              f"epochs; validation Dice {nt.fold_summary(folder)['foreground_mean']['Dice']:.4f})")
    return 0


def _verb_predict(args: argparse.Namespace) -> int:
    for name, files in run_predict(_settings(), regions=args.regions).items():
        print(f"{name}: {len(files)} cases in {prediction_folder(name, regions=args.regions)}")
    return 0


def _verb_evaluate(args: argparse.Namespace) -> int:
    table = run_evaluate(_settings(), regions=args.regions)
    print(table.drop(columns=["case", "postprocessing"]).groupby("run").mean().round(4).to_string())
    print(f"per case: {scores_file(regions=args.regions)}")
    return 0


def _regions(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--regions", action="store_true", help="the BraTS-regions dataset instead of whole tumour")


def _folds_and_configuration(parser: argparse.ArgumentParser, what: str) -> None:
    _regions(parser)
    parser.add_argument("--folds", type=non_negative_int, nargs="+", help=f"folds to {what} (default: the profile's)")
    parser.add_argument("--configuration", help=f"{what} this configuration (e.g. 2d) instead of the profile's")


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    _folds_and_configuration(parser, "train")
    parser.add_argument("--existing", choices=nt.EXISTING_CHOICES, default="refuse",
                        help="a fold folder holding a model the course did not train with this schedule: refuse "
                             "(default, nothing deleted), reuse it (adopted in place after its plans are checked, "
                             "and recorded), or overwrite it (deletes it)")


def _adopt_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path,
                        help="the nnUNet_results folder (or model, or fold folder) nnUNetv2_train wrote to")
    _folds_and_configuration(parser, "adopt")


VERBS = (
    Verb("train", "train (or resume, or reuse) the profile's folds", _verb_train, _train_arguments, threads=True),
    Verb("predict", "predict the held-out cases with each fold and the ensemble (trains first if needed)",
         _verb_predict, _regions, threads=True),
    Verb("evaluate", "score the held-out predictions (Dice, HD95; region Dice) into a CSV file", _verb_evaluate,
         _regions, threads=True),
    Verb("adopt", "adopt a model nnUNetv2_train trained (e.g. on several GPUs)", _verb_adopt, _adopt_arguments,
         threads=True),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 for bad input, with one line naming it)."""
    return run_command("python -m course_utils.imaging.nnunet_cli", __doc__.split("\n")[0], VERBS, argv)


if __name__ == "__main__":
    sys.exit(main())
