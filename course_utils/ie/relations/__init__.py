"""Chapter 13, BioRED relations: :mod:`~course_utils.ie.relations.ner` (the NER command; the NER itself in ``ner_encoding``, ``ner_model``,
``ner_baseline``), :mod:`~course_utils.ie.relations.models` (the relation command; the relation and novelty
classifiers in ``relation_inputs`` and ``relation_classifier``),
:mod:`~course_utils.ie.relations.pipeline` (NER then relations, end to end), :mod:`~course_utils.ie.relations.explore`
(the corpus exploration of 13.1) and :mod:`~course_utils.ie.relations.synthetic` (the smoke profile's abstracts).

Builds on the shared pieces of :mod:`course_utils.ie` (the BioRED readers, BIO, scoring). Commands:
``python -m course_utils.ie.relations VERB`` (relation models), ``python -m course_utils.ie.relations.ner VERB``,
``python -m course_utils.ie.relations.pipeline VERB``.

Kept for compatibility: this package was the module ``course_utils.ie.relations``; its names are handed on from
:mod:`~course_utils.ie.relations.models` (``from course_utils.ie import relations; relations.train_relations``).
"""

from typing import Any

from .. import forward_attribute

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    return forward_attribute(__name__, name)
