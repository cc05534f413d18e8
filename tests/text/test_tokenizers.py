"""Tests of course_utils.text.tokenize and .tokenizers (chapter 7): the course's word splitter and the four
tracks on the tricky strings, with exact expected pieces."""

from __future__ import annotations

import re

import pytest

from course_utils.errors import CourseError
from course_utils.text.corpus import TRICKY_STRINGS, synthetic_corpus
from course_utils.text.tokenize import sentences, word_spans, words
from course_utils.text.tokenizers import (
    TokenizerError,
    bpe_tokenize_batch,
    chunk_text,
    compare_tracks,
    count_cut_words,
    greedy_wordpiece,
    nltk_tokenize,
    punkt_data_dir,
    regex_tokenize,
    regex_tokenize_batch,
    regex_tokenize_lines,
    train_bpe,
    wordpiece_chunked,
    wordpiece_tokenize_batch,
    wordpiece_tokenizer,
)


@pytest.fixture(scope="module")
def wp():
    return wordpiece_tokenizer("minilm")


@pytest.fixture(scope="module")
def bpe():
    return train_bpe(synthetic_corpus(600).texts(), 800)


# ---------------------------------------------------------------- the course's words / sentences


def test_words_keep_internal_hyphens_and_digits() -> None:
    assert words("SARS-CoV-2 binds ACE2; IL-6 rose (COVID-19, 2019-nCoV).") == [
        "sars-cov-2", "binds", "ace2", "il-6", "rose", "covid-19", "2019-ncov"]
    assert words("2–14 days") == ["2", "14", "days"]  # an en dash separates
    assert words("2&ndash;14") == ["2", "ndash", "14"]  # the seed's entity becomes a word
    assert words("Patients' -- naïve_cells") == ["patients", "naïve", "cells"]
    text = "IL-6 and TNF."
    assert [text[a:b] for a, b in word_spans(text)] == ["IL-6", "and", "TNF"]


def test_sentences_respect_abbreviations() -> None:
    text = "We used e.g. PCR. Results were good (Fig. 2). S. aureus was found! 3 patients died. Smith et al. Showed it."
    assert sentences(text) == [
        "We used e.g. PCR.", "Results were good (Fig. 2).", "S. aureus was found!", "3 patients died.",
        "Smith et al. Showed it."]
    assert sentences("  ") == []
    assert sentences("No full stop") == ["No full stop"]


# ---------------------------------------------------------------- track 1: regex

REGEX_EXPECTED = {
    "SARS-CoV-2": ["SARS", "CoV", "2"],
    "COVID-19": ["COVID", "19"],
    "2019-nCoV": ["2019", "nCoV"],
    "IL-6": ["IL", "6"],
    "hydroxychloroquine": ["hydroxychloroquine"],
    "2&ndash;14": ["2", "ndash", "14"],
}


@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_regex_track_on_tricky_strings(text: str) -> None:
    assert regex_tokenize(text) == REGEX_EXPECTED[text]
    assert regex_tokenize_batch([text]) == [REGEX_EXPECTED[text]]
    assert regex_tokenize_lines(text) == REGEX_EXPECTED[text]


def test_regex_fast_path_equals_the_seeds_loop() -> None:
    text = "\r\n".join(synthetic_corpus(50, defects=True).texts())
    assert regex_tokenize_batch([text])[0] == regex_tokenize_lines(text) == regex_tokenize(text)
    assert [t for t in re.split(r"\W+", text) if t] == regex_tokenize(text)


# ---------------------------------------------------------------- track 2: NLTK offline

NLTK_EXPECTED = {
    "SARS-CoV-2": ["sars-cov-2"],
    "COVID-19": ["covid-19"],
    "2019-nCoV": ["2019-ncov"],
    "IL-6": ["il-6"],
    "hydroxychloroquine": ["hydroxychloroquine"],
    "2&ndash;14": ["2", "ndash", "14"],
}


@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_nltk_track_on_tricky_strings(text: str) -> None:
    assert nltk_tokenize(text) == NLTK_EXPECTED[text]


def test_nltk_punkt_tab_is_built_offline_and_used(tmp_path) -> None:
    import nltk

    folder = punkt_data_dir()
    assert (folder / "tokenizers" / "punkt_tab" / "english" / "abbrev_types.txt").is_file()
    assert str(folder) in nltk.data.path
    assert nltk.sent_tokenize("Dr. Smith arrived. He left.") == ["Dr. Smith arrived.", "He left."]
    assert nltk_tokenize("Fever, cough (and fatigue). Patients' recovery!") == [
        "fever", "cough", "and", "fatigue", "patients", "recovery"]


# ---------------------------------------------------------------- track 3: WordPiece of the real vocabulary

WORDPIECE_EXPECTED = {
    "SARS-CoV-2": ["sar", "##s", "-", "co", "##v", "-", "2"],
    "COVID-19": ["co", "##vid", "-", "19"],  # the seed's Table 2.3 shows one token: WordPiece cannot
    "2019-nCoV": ["2019", "-", "nc", "##ov"],
    "IL-6": ["il", "-", "6"],
    "hydroxychloroquine": ["hydro", "##xy", "##ch", "##lor", "##o", "##quin", "##e"],
    "2&ndash;14": ["2", "&", "n", "##das", "##h", ";", "14"],
}


@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_wordpiece_track_on_tricky_strings(text: str, wp) -> None:
    assert wp.tokenize(text) == WORDPIECE_EXPECTED[text]
    assert wordpiece_tokenize_batch([text], wp) == [WORDPIECE_EXPECTED[text]]


def test_wordpiece_real_vocabulary_on_known_words(wp) -> None:
    vocab = wp.get_vocab()
    assert len(vocab) == 30522
    assert vocab["[PAD]"] == 0 and vocab["[UNK]"] == 100 and vocab["[CLS]"] == 101 and vocab["[SEP]"] == 102
    assert wp.tokenize("The patient has a fever and pneumonia.") == [
        "the", "patient", "has", "a", "fever", "and", "pneumonia", "."]
    assert wp.tokenize("coronavirus") == ["corona", "##virus"]
    assert wp.tokenize("unaffable") == ["una", "##ffa", "##ble"]
    assert wp.tokenize("Tocilizumab") == ["to", "##ci", "##li", "##zu", "##ma", "##b"]
    ids = wp("fever", add_special_tokens=True)["input_ids"]
    assert ids[0] == 101 and ids[-1] == 102 and len(ids) == 3


def test_greedy_wordpiece_equals_the_library(wp) -> None:
    vocab = wp.get_vocab()
    for word in ["hydroxychloroquine", "remdesivir", "covid", "pneumonia", "unaffable", "tmprss2", "ivermectin"]:
        assert greedy_wordpiece(word, vocab) == wp.tokenize(word), word
    assert greedy_wordpiece("☃x", {"x", "##x"}) == ["[UNK]"]


def test_long_texts_are_not_truncated(wp) -> None:
    text = " ".join(["fever"] * 1000)
    assert len(wordpiece_tokenize_batch([text], wp)[0]) == 1000


def test_the_seeds_512_character_chunks_cut_words(wp) -> None:
    text = "abcdefghij " * 100  # 1,100 characters: boundaries at 512 and 1,024 fall inside words
    assert chunk_text(text, 512) == [text[:512], text[512:1024], text[1024:]]
    assert count_cut_words(text, 512) == 2
    assert count_cut_words("ab cde", 3) == 0 and count_cut_words("ab cd", 2) == 1
    chunked = wordpiece_chunked(text, wp, 512)
    assert chunked != wp.tokenize(text)  # a cut word gives other pieces
    with pytest.raises(TokenizerError):
        chunk_text("x", 0)


# ---------------------------------------------------------------- track 4: BPE trained here

BPE_EXPECTED = {  # with 800 symbols on 600 synthetic documents; ";" never occurs in training: [UNK]
    "SARS-CoV-2": ["sars", "-", "cov", "-", "2"],
    "COVID-19": ["covid", "-", "19"],
    "2019-nCoV": ["20", "19", "-", "n", "cov"],  # this year is rare in the synthetic text: no merge for it
    "IL-6": ["il", "-", "6"],
    "hydroxychloroquine": ["hydroxychloroquine"],
    "2&ndash;14": ["2", "&", "n", "d", "as", "h", "[UNK]", "14"],
}


@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_bpe_track_on_tricky_strings(text: str, bpe) -> None:
    assert bpe_tokenize_batch([text], bpe) == [BPE_EXPECTED[text]]


def test_bpe_splits_unseen_words_into_learned_pieces_deterministically(bpe) -> None:
    assert bpe.get_vocab_size() == 800
    vocab = bpe.get_vocab()
    pieces = bpe.encode("ziodolar").tokens  # an unseen pseudo-word: split into learned merges
    assert "".join(pieces) == "ziodolar" and len(pieces) > 1
    again = train_bpe(synthetic_corpus(600).texts(), 800)
    assert again.get_vocab() == vocab  # deterministic
    with pytest.raises(CourseError):
        train_bpe(["a"], 5)


def test_bpe_ignore_merges_gives_the_same_pieces_as_replaying_the_merges(bpe) -> None:
    """train_bpe's ignore_merges (a word that is one vocabulary entry is encoded as that entry) is a speed-up only:
    on the corpus it was trained on and on unseen text, every piece equals the merges replayed in order."""
    texts = synthetic_corpus(600).texts()
    replayed = train_bpe(texts, 800, ignore_merges=False)
    assert replayed.get_vocab() == bpe.get_vocab()
    unseen = [*synthetic_corpus(200, seed=99, domain=1).texts(), *TRICKY_STRINGS, "ziodolar hydroxychloroquine"]
    for batch in (texts, unseen):
        assert bpe_tokenize_batch(batch, bpe) == bpe_tokenize_batch(batch, replayed)


def test_compare_tracks_measures_every_track(wp, bpe) -> None:
    texts = synthetic_corpus(200).texts()
    rows = {r.track: r for r in compare_tracks(texts, wordpiece=wp, bpe=bpe)}
    assert list(rows) == ["regex", "nltk", "wordpiece", "bpe"]
    n_words = rows["regex"].words
    assert all(r.words == n_words and r.documents == 200 for r in rows.values())
    # subword tracks split more than the word tracks
    assert rows["wordpiece"].tokens_per_word > 1.3 and rows["bpe"].tokens_per_word > 1.3
    assert rows["nltk"].tokens_per_word < rows["regex"].tokens_per_word  # NLTK keeps hyphenated terms whole
    assert rows["wordpiece"].model_vocabulary == 30522 and rows["bpe"].model_vocabulary == 800
    assert rows["wordpiece"].unknown == 0
    assert all(r.mb_per_s > 0 for r in rows.values())
    assert rows["regex"].as_row()["track"] == "regex"


# ---------------------------------------------------------------- chapter 7 exercises


def _untouched(*args):
    ...


def test_exercise_solutions_pass_and_untouched_cells_are_not_attempted(wp) -> None:
    from course_utils.exercises import CORRECT, NOT_ATTEMPTED, ch07

    vocab = wp.get_vocab()
    assert ch07.check_wordpiece(ch07.wordpiece_solution, vocab).status == CORRECT
    assert ch07.check_cut_words(ch07.cut_words_solution).status == CORRECT
    assert ch07.check_bpe_merges(ch07.bpe_merges_solution).status == CORRECT
    assert ch07.check_wordpiece(_untouched, vocab).status == NOT_ATTEMPTED
    assert ch07.check_cut_words(_untouched).status == NOT_ATTEMPTED
    assert ch07.check_bpe_merges(_untouched).status == NOT_ATTEMPTED


def test_exercise_solutions_agree_with_the_libraries(wp) -> None:
    from course_utils.exercises import ch07

    vocab = wp.get_vocab()
    for word in ch07.WORDPIECE_WORDS[:-1]:
        assert ch07.wordpiece_solution(word, vocab) == wp.tokenize(word)
    assert ch07.wordpiece_solution("☃snow", vocab) == ["[UNK]"]
    # the worked example of Sennrich et al. (2016): its first merges (later ones depend on how ties are broken)
    merges = ch07.bpe_merges_solution(ch07.BPE_EXAMPLE, 10)
    assert merges[:5] == [("e", "s"), ("es", "t"), ("est", "</w>"), ("l", "o"), ("lo", "w")]
    assert len(merges) == 10


def test_exercise_wrong_answers_get_hints(wp) -> None:
    from course_utils.exercises import INCORRECT, ch07

    vocab = wp.get_vocab()

    def no_marks(word, vocab):
        return [p.removeprefix("##") for p in ch07.wordpiece_solution(word, vocab)]

    def shortest(word, vocab):
        return [word[0]] + ["##" + c for c in word[1:]]

    for fn, hint in [(no_marks, "##"), (shortest, "longest")]:
        fb = ch07.check_wordpiece(fn, vocab)
        assert fb.status == INCORRECT and hint in fb.message, fb
    fb = ch07.check_cut_words(lambda text, size: -(-len(text) // size))
    assert fb.status == INCORRECT and "number of chunks" in fb.message
    fb = ch07.check_bpe_merges(lambda counts, n: [("l", "o")] * n)
    assert fb.status == INCORRECT and "merge 1" in fb.message
    fb = ch07.check_cut_words(lambda text, size: 1 / 0)
    assert fb.status == INCORRECT and "ZeroDivisionError" in fb.message
