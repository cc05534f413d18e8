"""``python -m course_utils.ie.relations VERB``: the command of :mod:`course_utils.ie.relations.models`."""

import sys

from .models import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
