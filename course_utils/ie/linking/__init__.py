"""Chapter 14, entity linking: :mod:`~course_utils.ie.linking.data` (NCBI-disease, BioRED rows, vocabularies),
:mod:`~course_utils.ie.linking.rankers` (exact, TF-IDF, dense, combined and context linkers),
:mod:`~course_utils.ie.linking.scores`, :mod:`~course_utils.ie.linking.files`, :mod:`~course_utils.ie.linking.recipes`,
:mod:`~course_utils.ie.linking.linkers` (the command, re-exporting the four modules' public names),
:mod:`~course_utils.ie.linking.self_align` (self-alignment pre-training of the encoder) and
:mod:`~course_utils.ie.linking.rerank` (the reranker).

Builds on the shared pieces of :mod:`course_utils.ie` (the BioRED readers). Command:
``python -m course_utils.ie.linking VERB``.

Kept for compatibility: this package was the module ``course_utils.ie.linking``; its names are handed on from
:mod:`~course_utils.ie.linking.linkers` (``from course_utils.ie import linking; linking.TfidfLinker``).
"""

from typing import Any

from .. import forward_attribute

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    return forward_attribute(__name__, name)
