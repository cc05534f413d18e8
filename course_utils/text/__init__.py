"""Part II, word representations (chapters 7-11): corpus, tokenizers, counting, skip-gram, MLM, evaluation.

Import the modules you need (``from course_utils.text import corpus``); nothing is imported eagerly, so that
chapter 7 does not pay for gensim or peft.
"""

__all__: list[str] = []
