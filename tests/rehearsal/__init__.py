"""Builders for the lab-path rehearsal of chapters 7-14 (tests/test_lab_rehearsal.py).

* :mod:`rehearsal.standins`: tiny random stand-ins for the hub models (same architecture class, tokenizer class,
  special tokens and pooling as the real ones, with the files each model manifest lists).
* :mod:`rehearsal.datasets`: the datasets laid out in a temporary ``COURSE_DATA_DIR`` exactly as
  ``python -m course_utils.data fetch NAME`` lays them out: the real files of ``$COURSE_REAL_DATA`` where they are
  in the manifest's own format, small fixtures in the manifest's exact format where they are not, and, without
  ``COURSE_REAL_DATA``, fixtures made by the course's own generators.

Both write only into the folders they are given (pytest's temporary folders).
"""
