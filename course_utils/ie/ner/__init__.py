"""Chapter 12, Chinese medical NER on the Ruijin diabetes corpus: :mod:`~.model` (the
encoder -> BiLSTM -> CRF network), :mod:`~.training`, :mod:`~.evaluation`, :mod:`~.recipes`, :mod:`~.data` and
the command :mod:`~course_utils.ie.ner.tagger` (which re-exports all their public names), and
:mod:`~course_utils.ie.ner.synthetic` (the synthetic brat corpus the smoke profile uses).

Builds on the shared pieces of :mod:`course_utils.ie` (brat, BIO, line breaks, CRF, scoring). Command:
``python -m course_utils.ie.ner.tagger VERB`` (``python -m course_utils.ie.ner_zh VERB`` is kept for compatibility).
"""

__all__: list[str] = []
