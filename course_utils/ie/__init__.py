"""Part III, information extraction (chapters 12-14): Chinese NER, BioRED relations, entity linking.

The folder shows the book. The modules here are the pieces the three chapters share; each chapter has a package
that imports them and never imports another chapter's package:

- shared: :mod:`~course_utils.ie.brat` (brat reader), :mod:`~course_utils.ie.bio` (BIO tags),
  :mod:`~course_utils.ie.linebreaks`, :mod:`~course_utils.ie.crf`, :mod:`~course_utils.ie.scoring` (span
  scoring) and :mod:`~course_utils.ie.biored` (the BioRED PubTator and LitCoin readers: chapter 13 trains on
  them, chapter 14 takes its disease rows from them);
- :mod:`course_utils.ie.ner`: chapter 12, Chinese medical NER (``ner.tagger``, ``ner.synthetic``);
- :mod:`course_utils.ie.relations`: chapter 13, BioRED NER, relation models, pipeline, exploration;
- :mod:`course_utils.ie.linking`: chapter 14, linking data, linkers, self-alignment, reranker.

Import the modules you need (``from course_utils.ie import brat``); nothing is imported eagerly.

Kept for compatibility: the flat names of the modules before the split (``course_utils.ie.ner_zh``,
``.ner_biored``, ``.biored_pipeline``, ``.biored_explore``, ``.synthetic_biored``, ``.synthetic_zh``,
``.linking_data``, ``.self_align``, ``.rerank``) still import, as the same module objects as their new homes in
:data:`MOVED`, and ``python -m course_utils.ie.ner_zh VERB`` (and the others) still run their commands; the old
modules ``course_utils.ie.relations`` and ``course_utils.ie.linking`` are now the chapter packages, which hand
an unknown attribute on to ``relations.models`` and ``linking.linkers`` (:data:`PACKAGE_DEFAULT`). New code uses
the new paths.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

__all__: list[str] = []

#: Old flat module name -> its home since issue 29 (kept for compatibility with readers' old code).
MOVED = {
    "ner_zh": "ner.tagger", "synthetic_zh": "ner.synthetic",
    "ner_biored": "relations.ner", "biored_pipeline": "relations.pipeline", "biored_explore": "relations.explore",
    "synthetic_biored": "relations.synthetic",
    "linking_data": "linking.data", "self_align": "linking.self_align", "rerank": "linking.rerank",
}
#: Old module that became a chapter package -> the module its attributes now live in.
PACKAGE_DEFAULT = {"relations": "relations.models", "linking": "linking.linkers"}


class _OldNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import an old flat name as the moved module itself; ``python -m OLD`` runs the moved command."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        short = fullname.removeprefix(__name__ + ".")
        if short == fullname or short not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> ModuleType:
        return importlib.import_module(f"{__name__}.{MOVED[spec.name.removeprefix(__name__ + '.')]}")

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the moved module is already imported."""

    def get_code(self, fullname: str) -> Any:
        """Code that runs the moved module as ``__main__`` (what ``python -m`` and ``torchrun -m`` execute)."""
        new = f"{__name__}.{MOVED[fullname.removeprefix(__name__ + '.')]}"
        return compile(f"import runpy\nrunpy.run_module({new!r}, run_name='__main__', alter_sys=True)\n",
                       f"<{fullname}: moved to {new}>", "exec")


def forward_attribute(package: str, name: str) -> Any:
    """Return attribute ``name`` of the module that an old module turned package now keeps it in (compatibility)."""
    short = package.removeprefix(__name__ + ".")
    if name.startswith("__"):
        raise AttributeError(name)
    module = importlib.import_module(f"{__name__}.{PACKAGE_DEFAULT[short]}")
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module {package!r} has no attribute {name!r}") from None


if not any(isinstance(finder, _OldNames) for finder in sys.meta_path):
    sys.meta_path.append(_OldNames())
