"""course_utils: the tested code behind the chapters of the biomedical AI course.

Subpackages follow the parts of the book: :mod:`course_utils.imaging` (Part I), and, as they are
written, ``text`` (Part II) and ``ie`` (Part III); plus ``data`` (manifests and downloads),
``profiles`` (every profile-dependent number), ``device``, ``exercises`` and ``plotting``.
A notebook starts with :func:`start_chapter`.
"""

from __future__ import annotations

from .errors import CourseError
from .profiles import Profile, chapter_settings, resolve_profile
from .session import ChapterContext, start_chapter

__all__ = ["CourseError", "Profile", "ChapterContext", "chapter_settings", "resolve_profile", "start_chapter"]
__version__ = "0.1.0"
