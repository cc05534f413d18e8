"""Part III, information extraction (chapters 12-14): Chinese NER, BioRED relations, entity linking.

Import the modules you need (``from course_utils.ie import brat``); nothing is imported eagerly.
"""

__all__: list[str] = []
