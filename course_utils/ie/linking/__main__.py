"""``python -m course_utils.ie.linking VERB``: the command of :mod:`course_utils.ie.linking.linkers`."""

import sys

from .linkers import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
