"""The one way a course command is written: ``python -m course_utils.<part>.<chapter> VERB [options]``.

Every chapter that trains a model (6, 10, 12, 13, 14) has a command with verbs such as ``train``, ``predict``
and ``score``. This module holds what they share, so that each command module holds only its verbs:

- :class:`Verb`: a verb's name, one-line help, its arguments and the function that runs it;
- :func:`run_command`: builds the parser (one sub-command a verb), adds ``--threads`` and ``--device`` to the
  verbs that ask for them, runs the chosen verb and turns a :class:`~course_utils.errors.CourseError` into one
  clear line on standard error with exit status 2 (argparse's own usage errors also exit 2); a keyboard
  interrupt exits 130;
- small argument types (:func:`positive_int`, :func:`non_negative_int`, :func:`probability`) whose errors name
  the option and the value.

A verb returns its exit status (``0``, or ``None`` for 0). Progress bars come from :mod:`course_utils.progress`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .errors import CourseError

__all__ = ["Verb", "run_command", "build_parser", "positive_int", "non_negative_int", "probability",
           "apply_threads"]


@dataclass(frozen=True)
class Verb:
    """One verb of a course command: ``name``, one-line ``help``, ``arguments`` to add, ``run`` to call."""

    name: str
    help: str
    run: Callable[[argparse.Namespace], int | None]
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    description: str | None = None
    epilog: str | None = None
    threads: bool = False
    device: bool = False
    extra: dict = field(default_factory=dict)


def positive_int(text: str) -> int:
    """Return ``text`` as an int >= 1, or raise argparse's error naming the value (every command)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    """Return ``text`` as an int >= 0, or raise argparse's error naming the value (every command)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be 0 or more")
    return value


def probability(text: str) -> float:
    """Return ``text`` as a float in [0, 1], or raise argparse's error naming the value (every command)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} must lie between 0 and 1")
    return value


def apply_threads(threads: int | None) -> None:
    """Set torch's CPU thread count when ``threads`` is given (the ``--threads`` option of every command)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def build_parser(prog: str, description: str, verbs: Sequence[Verb]) -> argparse.ArgumentParser:
    """Return the argument parser of a course command: one sub-command a verb, common options added."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in verbs:
        formatter = argparse.RawDescriptionHelpFormatter if verb.epilog else argparse.HelpFormatter
        one = sub.add_parser(verb.name, help=verb.help, description=verb.description or verb.help,
                             epilog=verb.epilog, formatter_class=formatter)
        verb.arguments(one)
        if verb.threads:
            one.add_argument("--threads", type=non_negative_int, default=0,
                             help="CPU threads for torch (default 0: torch's own choice)")
        if verb.device:
            one.add_argument("--device", default=None,
                             help="cpu, cuda, cuda:1, mps (default: $COURSE_DEVICE, else the best available); "
                                  "under torchrun each process takes the GPU of its local rank")
    return parser


def run_command(prog: str, description: str, verbs: Sequence[Verb], argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the chosen verb and return its exit status (2 for a course error, every command)."""
    parser = build_parser(prog, description, verbs)
    args = parser.parse_args(argv)
    chosen = {verb.name: verb for verb in verbs}[args.verb]
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        if chosen.threads:
            apply_threads(args.threads)
        status = chosen.run(args)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0 if status is None else int(status)
