"""BioRED and LitCoin (chapter 13): the documents and their readers (:mod:`.reader`) and the relation scoring
(:mod:`.scoring`). Every public name of both is importable from here, as it was from the single module this
package replaced (``course_utils.ie.biored``).
"""

from course_utils.ie.biored.reader import *  # noqa: F403
from course_utils.ie.biored.reader import __all__ as _reader_all
from course_utils.ie.biored.scoring import *  # noqa: F403
from course_utils.ie.biored.scoring import __all__ as _scoring_all

__all__ = [*_reader_all, *_scoring_all]
