"""The one call at the top of every chapter notebook (set-up; all chapters)."""

from __future__ import annotations

import os
import platform
import sys
import textwrap
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .device import describe_device, pick_device
from .paths import data_dir, ensure_writable_dir, work_dir
from .profiles import CHAPTERS, Profile, ProfileError, chapter_settings, resolve_profile
from .seeding import seed_everything

__all__ = ["ChapterContext", "start_chapter", "package_versions", "shown_path"]

_COURSE_ROOT = Path(__file__).resolve().parents[1]

_KEY_PACKAGES = (
    "course_utils", "torch", "numpy", "SimpleITK", "nibabel", "nilearn", "nnunetv2",
    "transformers", "peft", "gensim", "scikit-learn",
)


@dataclass(frozen=True)
class ChapterContext:
    """What a chapter needs after set-up: profile, settings, device, folders and a seeded RNG."""

    chapter: int
    title: str
    profile: Profile
    profile_reason: str
    settings: Any
    device: Any
    data_dir: Path
    work_dir: Path
    rng: np.random.Generator

    def report(self) -> str:
        """Return the set-up report printed at the top of the notebook."""
        versions = package_versions()
        lines = [
            f"Chapter {self.chapter}: {self.title}",
            f"  profile   {self.profile.value}  ({self.profile_reason})",
            f"  device    {describe_device(self.device)}",
            f"  python    {platform.python_version()} on {platform.system()} {platform.machine()}",
            *_wrap("  packages  ", [f"{k} {v}" for k, v in versions.items()]),
            f"  data dir  {shown_path(self.data_dir)}",
            f"  work dir  {shown_path(self.work_dir)}",
            *_wrap("  settings  ", [f"{k}={v!r}" for k, v in vars(self.settings).items()]),
        ]
        override = os.environ.get("COURSE_SCHEDULE_OVERRIDE", "").strip()
        if override:
            lines.append(f"  REHEARSAL schedule shortened by COURSE_SCHEDULE_OVERRIDE={override}")
        return "\n".join(lines)


def shown_path(path: Path, course_root: Path = _COURSE_ROOT, home: Path | None = None) -> str:
    """Return ``path`` as the set-up report shows it: relative to the course (``<course>/...``) or home (``~/...``).

    A folder elsewhere shows only its last two parts (``.../parent/name``): a printed report, and the pages built
    from it, never carry the absolute paths of the machine that ran them.
    """
    path = Path(path).expanduser().resolve()
    for base, shown in ((Path(course_root).resolve(), "<course>"), (Path(home or Path.home()).resolve(), "~")):
        if path == base:
            return shown
        if path.is_relative_to(base):
            return f"{shown}/{path.relative_to(base).as_posix()}"
    tail = path.parts[-2:] if len(path.parts) > 2 else path.parts[1:]
    return ".../" + "/".join(tail)


def _wrap(head: str, items: list[str], width: int = 100) -> list[str]:
    """Return ``items`` joined by commas and wrapped at ``width``, the first line led by ``head``."""
    return textwrap.wrap(", ".join(items), width, initial_indent=head, subsequent_indent=" " * len(head),
                         break_long_words=False, break_on_hyphens=False)


def package_versions(names: tuple[str, ...] = _KEY_PACKAGES) -> dict[str, str]:
    """Return ``{package: version}`` for the installed key packages (missing ones are left out)."""
    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def start_chapter(chapter: int, *, seed: int | None = None, verbose: bool = True) -> ChapterContext:
    """Resolve the profile, seed everything, pick the device, check the work folder, print the report.

    Returns the :class:`ChapterContext` whose ``settings`` hold the chapter's profile-dependent numbers.
    """
    if chapter not in CHAPTERS:
        known = ", ".join(str(n) for n in sorted(CHAPTERS))
        raise ProfileError(f"There is no chapter {chapter}; chapters are {known}.")
    info = CHAPTERS[chapter]
    choice = resolve_profile(info.datasets)
    settings = chapter_settings(chapter, choice.profile)
    rng = seed_everything(seed if seed is not None else getattr(settings, "seed", 0))
    ctx = ChapterContext(
        chapter=chapter,
        title=info.title,
        profile=choice.profile,
        profile_reason=choice.reason,
        settings=settings,
        device=pick_device(),
        data_dir=data_dir(),
        work_dir=ensure_writable_dir(work_dir(), "course's generated files"),
        rng=rng,
    )
    if verbose:
        print(ctx.report(), file=sys.stdout)
    return ctx
