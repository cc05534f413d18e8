"""Checks that a notebook's stated numbers hold (every chapter).

Chapter notebooks put these calls in hidden cells (tag ``remove-cell``): when the notebook runs under
nbval, in the book build or by a student, a claim that no longer holds stops the run with a message,
rather than the prose silently describing numbers the code no longer produces.
"""

from __future__ import annotations

import math

from .errors import CourseError

__all__ = ["ClaimError", "claim", "claim_close", "claim_between"]


class ClaimError(CourseError, AssertionError):
    """A number or statement in a chapter's prose does not hold for the executed code."""


def claim(condition: bool, statement: str) -> None:
    """Raise :class:`ClaimError` with ``statement`` unless ``condition`` holds."""
    if not condition:
        raise ClaimError(f"The chapter claims that {statement}, but this run says otherwise.")


def claim_close(value: float, expected: float, statement: str, *, rtol: float = 1e-6, atol: float = 0.0) -> None:
    """Raise :class:`ClaimError` unless ``value`` is within ``rtol``/``atol`` of ``expected``."""
    if not math.isclose(float(value), float(expected), rel_tol=rtol, abs_tol=atol):
        raise ClaimError(
            f"The chapter claims that {statement}: expected {expected!r} (rtol {rtol}, atol {atol}), got {value!r}."
        )


def claim_between(value: float, low: float, high: float, statement: str) -> None:
    """Raise :class:`ClaimError` unless ``low <= value <= high``."""
    if not low <= float(value) <= high:
        raise ClaimError(f"The chapter claims that {statement}: expected {low} to {high}, got {value!r}.")
