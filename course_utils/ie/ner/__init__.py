"""Chapter 12, Chinese medical NER on the Ruijin diabetes corpus: :mod:`~course_utils.ie.ner.tagger` (the
encoder -> BiLSTM -> CRF tagger, its recipes, training, evaluation and command) and
:mod:`~course_utils.ie.ner.synthetic` (the synthetic brat corpus the smoke profile uses).

Builds on the shared pieces of :mod:`course_utils.ie` (brat, BIO, line breaks, CRF, scoring). Command:
``python -m course_utils.ie.ner.tagger VERB`` (``python -m course_utils.ie.ner_zh VERB`` is kept for compatibility).
"""

__all__: list[str] = []
