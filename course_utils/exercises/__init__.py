"""Exercise checkers that give feedback (every chapter).

An exercise cell asks the student to write a function; its checker runs that function on cases with
known answers and returns :class:`Feedback`. A function whose body is still ``...`` returns ``None``, and the
checker answers "not attempted yet" instead of failing, so the book and CI run the untouched notebooks.
Solutions live beside the checkers (``course_utils.exercises.chNN``) and are shown in the book behind a
dropdown; the tests run every solution, and typical wrong answers, through its checker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Feedback", "NOT_ATTEMPTED", "CORRECT", "INCORRECT", "attempt"]

NOT_ATTEMPTED = "not attempted yet"
CORRECT = "correct"
INCORRECT = "incorrect"

_ICON = {NOT_ATTEMPTED: "…", CORRECT: "✓", INCORRECT: "✗"}


@dataclass(frozen=True)
class Feedback:
    """The verdict on an answer: ``status`` (correct, incorrect, not attempted yet) and a helpful message."""

    exercise: str
    status: str
    message: str

    @property
    def correct(self) -> bool:
        """Return True when the answer passed every check."""
        return self.status == CORRECT

    def __str__(self) -> str:
        return f"{_ICON[self.status]} {self.exercise}: {self.status}. {self.message}".strip()

    def _repr_markdown_(self) -> str:
        return f"**{_ICON[self.status]} {self.exercise}: {self.status}.** {self.message}"

    def __repr__(self) -> str:
        return str(self)


def attempt(exercise: str, fn: Callable[..., Any], *args: Any) -> tuple[Any, Feedback | None]:
    """Return ``(answer, None)``, or ``(None, feedback)`` that ends the check: "not attempted yet" when the
    student's function still returns ``None`` (its body is ``...``), "incorrect" when it raised."""
    try:
        answer = fn(*args)
    except Exception as exc:  # the student's code may raise anything: report it, never crash the checker
        return None, Feedback(exercise, INCORRECT, f"your function raised {type(exc).__name__}: {exc}")
    if answer is None:
        return None, Feedback(exercise, NOT_ATTEMPTED, "Replace `...` with your code and run the cell again.")
    return answer, None
