"""Command line of the data layer: ``python -m course_utils.data list | fetch NAME | stage NAME FOLDER | verify NAME |
convert NAME``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..commands import Verb, run_command
from .manifest import list_manifests, load_manifest
from .store import dataset_path, dataset_present, fetch, stage, verify

__all__ = ["main"]


def _size(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def _list(args: argparse.Namespace) -> int:
    print(f"{'name':<20} {'kind':<8} {'status':<11} {'size':>10}  {'licence':<22} chapters  here")
    for name in list_manifests():
        m = load_manifest(name)
        chapters = ",".join(str(c) for c in m.chapters)
        size = _size(m.total_size) if m.files else "n/a"
        print(f"{m.name:<20} {m.kind:<8} {m.status:<11} {size:>10}  {m.licence[:22]:<22} "
              f"{chapters:<9} {'yes' if dataset_present(m.name) else 'no'}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    for name in args.names:
        print(f"{name}: ready in {fetch(name)}")
    return 0


def _stage(args: argparse.Namespace) -> int:
    print(f"{args.name}: staged in {stage(args.name, args.folder)}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    status = 0
    for name in args.names:
        root = args.root if args.root is not None else dataset_path(name)
        report = verify(name, root)
        print(report)
        status = status or (0 if report.ok else 1)
    return status


def _stage_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the manifest's name, e.g. biomedbert (see `list`)")
    parser.add_argument("folder", type=Path, help="the folder that holds the files, e.g. a Hugging Face snapshot "
                        "folder (links are followed) or an unpacked dataset")


def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="+")
    parser.add_argument("--root", type=Path, help="check this folder instead of COURSE_DATA_DIR/NAME")


VERBS = [
    Verb("list", "list every dataset and model with its size, licence and state", _list),
    Verb("fetch", "download, verify and extract datasets into COURSE_DATA_DIR", _fetch,
         lambda parser: parser.add_argument("names", nargs="+")),
    Verb("stage", "copy a folder you already have (a model snapshot, an unpacked dataset) into COURSE_DATA_DIR/NAME, "
         "verified against the manifest", _stage, _stage_arguments),
    Verb("verify", "check a fetched or hand-placed dataset (never writes)", _verify, _verify_arguments),
    Verb("convert", "build a derived dataset (brats_flair_seed from msd_task01)", lambda args: _convert(args.name),
         lambda parser: parser.add_argument("name")),
]


def main(argv: list[str] | None = None) -> int:
    """Run the data command line; return the exit status (0 ok, 1 incomplete dataset, 2 usage or course error)."""
    return run_command("python -m course_utils.data", __doc__ or "", VERBS, argv)


def _convert(name: str) -> int:
    from ..imaging.convert import msd_to_seed_layout
    from ..imaging.sources import MSD_TASK01_SUBDIR
    from .store import _write_marker

    m = load_manifest(name)
    if m.derived_from != "msd_task01":
        print(f"error: {name} is not a derived dataset this command knows (only brats_flair_seed).", file=sys.stderr)
        return 1
    source = fetch("msd_task01") / MSD_TASK01_SUBDIR
    out = msd_to_seed_layout(source, dataset_path(name) / "train")
    report = verify(name, dataset_path(name), manifest=m)
    if not report.ok:
        print(f"error: the converted dataset is incomplete:\n{report}", file=sys.stderr)
        return 1
    _write_marker(dataset_path(name), m)
    print(f"{name}: written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
