"""Checks that a notebook's stated numbers hold (every chapter).

Chapter notebooks put these calls in hidden cells (tag ``remove-cell``): when the notebook runs under
nbval, in the book build or by a student, a claim that no longer holds stops the run with a message,
rather than the prose silently describing numbers the code no longer produces.

A lab-path rehearsal (``COURSE_SCHEDULE_OVERRIDE`` set: a profile's code path with a schedule shortened to CPU
minutes) runs every claim too. A claim about how well something learned cannot hold after a few steps; the
notebook says so by passing ``at_scale="why it needs the full schedule"``. Under a rehearsal such a claim is still
evaluated, and when it fails it is reported as *waived, with its reason* instead of stopping the run. Outside a
rehearsal ``at_scale`` changes nothing. When ``COURSE_CLAIMS_LOG`` names a file, every claim appends one JSON line
to it (statement, outcome: ``held``, ``failed`` or ``waived``, and the reason), so a rehearsal can list what it
checked and what it waived: nothing is skipped silently.
"""

from __future__ import annotations

import json
import math
import os
import sys

from .errors import CourseError

__all__ = ["ClaimError", "claim", "claim_close", "claim_between", "rehearsal_scale"]


class ClaimError(CourseError, AssertionError):
    """A number or statement in a chapter's prose does not hold for the executed code."""


def rehearsal_scale() -> bool:
    """Return True when this run is a lab-path rehearsal (``COURSE_SCHEDULE_OVERRIDE`` is set)."""
    return bool(os.environ.get("COURSE_SCHEDULE_OVERRIDE", "").strip())


def _log(statement: str, outcome: str, reason: str | None) -> None:
    path = os.environ.get("COURSE_CLAIMS_LOG", "").strip()
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"statement": statement, "outcome": outcome, "at_scale": reason}) + "\n")


def _settle(ok: bool, statement: str, message: str, at_scale: str | None) -> None:
    if ok:
        _log(statement, "held", at_scale)
        return
    if at_scale and rehearsal_scale():
        _log(statement, "waived", at_scale)
        print(f"[claim waived at rehearsal scale] {statement} ({at_scale})", file=sys.stderr)
        return
    _log(statement, "failed", at_scale)
    raise ClaimError(message)


def claim(condition: bool, statement: str, *, at_scale: str | None = None) -> None:
    """Raise :class:`ClaimError` with ``statement`` unless ``condition`` holds (``at_scale``: see the module)."""
    _settle(bool(condition), statement,
            f"The chapter claims that {statement}, but this run says otherwise.", at_scale)


def claim_close(value: float, expected: float, statement: str, *, rtol: float = 1e-6, atol: float = 0.0,
                at_scale: str | None = None) -> None:
    """Raise :class:`ClaimError` unless ``value`` is within ``rtol``/``atol`` of ``expected``."""
    ok = math.isclose(float(value), float(expected), rel_tol=rtol, abs_tol=atol)
    _settle(ok, statement,
            f"The chapter claims that {statement}: expected {expected!r} (rtol {rtol}, atol {atol}), got {value!r}.",
            at_scale)


def claim_between(value: float, low: float, high: float, statement: str, *, at_scale: str | None = None) -> None:
    """Raise :class:`ClaimError` unless ``low <= value <= high``."""
    _settle(low <= float(value) <= high, statement,
            f"The chapter claims that {statement}: expected {low} to {high}, got {value!r}.", at_scale)
