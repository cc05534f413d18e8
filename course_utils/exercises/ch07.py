"""Chapter 7 exercises (corpus and tokenizers): checkers and their solutions.

7.1 WordPiece by greedy longest match first against the real bert-base-uncased vocabulary; 7.2 the words the
seed's 512-character chunks cut in two; 7.3 byte-pair-encoding merges learned from word counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from ..text.tokenizers import count_cut_words, greedy_wordpiece
from . import CORRECT, INCORRECT, Feedback, attempt

__all__ = [
    "wordpiece_solution",
    "check_wordpiece",
    "WORDPIECE_WORDS",
    "cut_words_solution",
    "check_cut_words",
    "cut_word_cases",
    "bpe_merges_solution",
    "check_bpe_merges",
    "BPE_EXAMPLE",
]

# --- 7.1 WordPiece --------------------------------------------------------------------------------------------

#: Words the checker splits (lower-cased, as BERT's uncased normaliser leaves them); the last has a character
#: the vocabulary lacks.
WORDPIECE_WORDS = ("fever", "coronavirus", "hydroxychloroquine", "remdesivir", "unaffable", "tocilizumab",
                   "pneumonia", "ivermectin", "tmprss2", "covid", "☃snow")


def wordpiece_solution(word: str, vocab: Mapping[str, int]) -> list[str]:
    """Solution to exercise 7.1: greedy longest-match-first WordPiece of one word; ``##`` marks a piece that
    continues a word; a word with any part that matches nothing is ``["[UNK]"]``."""
    pieces: list[str] = []
    start = 0
    while start < len(word):
        for end in range(len(word), start, -1):  # longest candidate first
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                pieces.append(piece)
                start = end
                break
        else:
            return ["[UNK]"]
    return pieces


def check_wordpiece(fn: Callable[[str, Mapping[str, int]], list[str]], vocab: Mapping[str, int] | None = None) -> Feedback:
    """Return feedback on a WordPiece function ``fn(word, vocab)`` against the library's pieces (chapter 7).

    ``vocab`` defaults to the real bert-base-uncased vocabulary (``course_utils.text.tokenizers``)."""
    name = "Exercise 7.1 (WordPiece)"
    if vocab is None:
        from ..text.tokenizers import wordpiece_tokenizer

        vocab = wordpiece_tokenizer().get_vocab()
    for word in WORDPIECE_WORDS:
        answer, feedback = attempt(name, fn, word, vocab)
        if feedback is not None:
            return feedback
        expected = greedy_wordpiece(word, vocab)
        if list(answer) != expected:
            hint = ""
            if "".join(p.removeprefix("##") for p in answer) == word and not any(p.startswith("##") for p in answer[1:]):
                hint = " Pieces after the first must carry the ## continuation mark."
            elif len(answer) > len(expected) and expected != ["[UNK]"]:
                hint = " Take the longest piece that is in the vocabulary, not the shortest."
            elif expected == ["[UNK]"]:
                hint = " If some part of the word matches no piece, the whole word becomes [UNK]."
            return Feedback(name, INCORRECT, f"{word!r}: you gave {answer}, WordPiece gives {expected}.{hint}")
    return Feedback(name, CORRECT, f"All {len(WORDPIECE_WORDS)} words split as the library splits them.")


# --- 7.2 words cut by 512-character chunks ---------------------------------------------------------------------


def cut_words_solution(text: str, size: int) -> int:
    """Solution to exercise 7.2: the number of chunk boundaries (every ``size`` characters) with a letter or
    digit on both sides, i.e. words cut in two."""
    return sum(1 for i in range(size, len(text), size) if text[i - 1].isalnum() and text[i].isalnum())


def cut_word_cases() -> list[tuple[str, int]]:
    """Return (text, size) cases for exercise 7.2 (chapter 7)."""
    from ..text.corpus import synthetic_corpus

    text = "\r\n".join(synthetic_corpus(40, seed=7).texts())
    return [("abcdefghij " * 100, 512), ("ab cd", 2), ("ab cde", 3), (text, 512), (text, 100), ("short", 512)]


def check_cut_words(fn: Callable[[str, int], int]) -> Feedback:
    """Return feedback on ``fn(text, size)`` counting the words cut by ``size``-character chunks (chapter 7)."""
    name = "Exercise 7.2 (words cut by chunks)"
    for text, size in cut_word_cases():
        answer, feedback = attempt(name, fn, text, size)
        if feedback is not None:
            return feedback
        expected = count_cut_words(text, size)
        if answer != expected:
            chunks = -(-len(text) // size)
            hint = ""
            if answer == chunks or answer == chunks - 1:
                hint = " That is the number of chunks (or boundaries), not of boundaries inside a word."
            return Feedback(name, INCORRECT,
                            f"For a text of {len(text)} characters cut every {size}: you gave {answer}, expected {expected}.{hint}")
    return Feedback(name, CORRECT, "Every case matches.")


# --- 7.3 BPE merges ------------------------------------------------------------------------------------------

#: The classic example of Sennrich et al. (2016): word counts, each word a sequence of symbols ending in </w>.
BPE_EXAMPLE = {"low": 5, "lower": 2, "newest": 6, "widest": 3}


def bpe_merges_solution(word_counts: Mapping[str, int], n_merges: int) -> list[tuple[str, str]]:
    """Solution to exercise 7.3: the first ``n_merges`` BPE merges. Each word is its characters plus ``</w>``;
    repeatedly merge the most frequent adjacent pair (ties: the smallest pair in string order) everywhere."""
    words: dict[tuple[str, ...], int] = {tuple(w) + ("</w>",): c for w, c in word_counts.items()}
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, count in words.items():
            for pair in zip(symbols, symbols[1:], strict=False):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged: dict[tuple[str, ...], int] = {}
        for symbols, count in words.items():
            out: list[str] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        words = merged
    return merges


def check_bpe_merges(fn: Callable[[Mapping[str, int], int], Any]) -> Feedback:
    """Return feedback on ``fn(word_counts, n_merges)`` returning the BPE merges as a list of pairs (chapter 7)."""
    name = "Exercise 7.3 (BPE merges)"
    cases = [(BPE_EXAMPLE, 10), ({"hello": 3, "help": 2, "held": 1}, 6), ({"aaaa": 1}, 3)]
    for counts, n in cases:
        answer, feedback = attempt(name, fn, dict(counts), n)
        if feedback is not None:
            return feedback
        expected = bpe_merges_solution(counts, n)
        got = [tuple(p) for p in answer]
        if got != expected:
            first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), min(len(got), len(expected)))
            hint = ""
            if got and expected and got[0] != expected[0]:
                hint = " Count each pair once per occurrence, weighted by the word's count, and remember the </w> symbol."
            return Feedback(name, INCORRECT,
                            f"On {dict(counts)}: merge {first + 1} should be {expected[first] if first < len(expected) else 'none'}, "
                            f"you gave {got[first] if first < len(got) else 'none'}.{hint}")
    return Feedback(name, CORRECT, "Your merges match on every case.")
