"""Exceptions of the course package.

Every error says what is wrong, where (file, case id) and what to do next, so that a student who meets
one in a notebook can act on it without reading a traceback.
"""

from __future__ import annotations

__all__ = [
    "CourseError",
    "ProfileError",
    "OutputNotWritableError",
    "VolumeError",
    "NotThreeDimensionalError",
    "GeometryMismatchError",
    "LabelValueError",
    "DatasetLayoutError",
    "DataMissingError",
    "ManifestError",
    "DownloadError",
    "IntegrityError",
    "UnsafeArchiveError",
]


class CourseError(Exception):
    """Base class of every error raised on purpose by ``course_utils``."""


class ProfileError(CourseError, ValueError):
    """An unknown or unusable ``COURSE_PROFILE`` (set-up, every chapter)."""


class OutputNotWritableError(CourseError, OSError):
    """A folder the course must write to cannot be created or written."""


class VolumeError(CourseError, ValueError):
    """A medical image file that cannot be read or is not what the chapter expects (chapter 1)."""


class NotThreeDimensionalError(VolumeError):
    """A volume that is not 3-D where a 3-D volume is expected (chapter 1)."""


class GeometryMismatchError(VolumeError):
    """An image and its label that do not share shape, spacing, origin or direction (chapter 1)."""


class LabelValueError(VolumeError):
    """A label volume holding values outside the declared labels (chapter 1)."""


class DatasetLayoutError(CourseError, ValueError):
    """A data folder that is in neither of the layouts the course reads (chapter 1)."""


class DataMissingError(CourseError, FileNotFoundError):
    """Data that a lab or full profile needs is not on this machine; the message names the command."""


class ManifestError(CourseError, ValueError):
    """A data manifest that is missing or does not validate against the schema (data layer)."""


class DownloadError(CourseError, OSError):
    """A download that failed: server down, offline, HTTP error (data layer). Says what to run next."""


class IntegrityError(CourseError, ValueError):
    """A downloaded or placed file whose size or checksum is wrong; the file has been removed (data layer)."""


class UnsafeArchiveError(CourseError, ValueError):
    """An archive member that would land outside the target folder (data layer); nothing was extracted."""
