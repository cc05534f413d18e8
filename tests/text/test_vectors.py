"""Tests of course_utils.text.vectors (chapters 8-11): WordVectors and the similarity-set score."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from course_utils.errors import CourseError
from course_utils.text.vectors import (
    SimilarityResult,
    UnknownWordError,
    VectorsError,
    WordVectors,
    evaluate_similarity,
    phrase_vector,
)


@pytest.fixture()
def toy() -> WordVectors:
    # Directions chosen so the cosines are known exactly.
    matrix = np.array(
        [
            [1.0, 0.0, 0.0],  # fever
            [2.0, 0.0, 0.0],  # cough: same direction as fever, cosine 1
            [1.0, 1.0, 0.0],  # pyrexia: cosine 1/sqrt(2) with fever
            [0.0, 0.0, 3.0],  # aspirin: orthogonal to fever
            [-1.0, 0.0, 0.0],  # opposite of fever, cosine -1
        ]
    )
    return WordVectors(("fever", "cough", "pyrexia", "aspirin", "anti"), matrix, "toy")


def test_basic_api(toy: WordVectors) -> None:
    assert len(toy) == 5 and toy.dim == 3
    assert toy.matrix.dtype == np.float32
    assert toy.index == {"fever": 0, "cough": 1, "pyrexia": 2, "aspirin": 3, "anti": 4}
    assert "fever" in toy and "ebola" not in toy
    np.testing.assert_array_equal(toy.vector("cough"), np.array([2, 0, 0], dtype=np.float32))
    assert toy.similarity("fever", "pyrexia") == pytest.approx(1 / math.sqrt(2), rel=1e-6)
    assert "toy" in repr(toy) and "5" in repr(toy)


def test_neighbours_order_and_values(toy: WordVectors) -> None:
    result = toy.neighbours("fever", k=4)
    assert [w for w, _ in result] == ["cough", "pyrexia", "aspirin", "anti"]
    assert [s for _, s in result] == pytest.approx([1.0, 1 / math.sqrt(2), 0.0, -1.0], abs=1e-6)
    assert toy.neighbours("fever", k=1) == [("cough", pytest.approx(1.0))]
    assert len(toy.neighbours("fever", k=100)) == 4  # never the word itself
    # a brute-force check on random vectors
    rng = np.random.default_rng(0)
    words = tuple(f"w{i}" for i in range(50))
    vectors = WordVectors(words, rng.normal(size=(50, 8)), "random")
    unit = vectors.matrix / np.linalg.norm(vectors.matrix, axis=1, keepdims=True)
    cos = unit @ unit[7]
    cos[7] = -np.inf
    expected = [words[i] for i in np.argsort(-cos)[:5]]
    assert [w for w, _ in vectors.neighbours("w7", k=5)] == expected


def test_errors_are_course_errors(toy: WordVectors) -> None:
    with pytest.raises(UnknownWordError, match="'ebola' is not in the vocabulary of 'toy'"):
        toy.vector("ebola")
    assert issubclass(UnknownWordError, CourseError) and issubclass(UnknownWordError, KeyError)
    with pytest.raises(VectorsError, match="2 words but 3 matrix rows"):
        WordVectors(("a", "b"), np.zeros((3, 2)), "bad")
    with pytest.raises(VectorsError, match="appears twice"):
        WordVectors(("a", "a"), np.zeros((2, 2)), "bad")
    with pytest.raises(VectorsError, match="NaN"):
        WordVectors(("a", "b"), np.array([[0.0, 1.0], [np.nan, 0.0]]), "bad")
    with pytest.raises(VectorsError, match="2-D"):
        WordVectors(("a",), np.zeros(3), "bad")


def test_save_load_round_trip(tmp_path, toy: WordVectors) -> None:
    path = toy.save(tmp_path / "sub" / "toy.npz")
    assert path.exists() and not list(path.parent.glob(".*tmp*"))
    back = WordVectors.load(path)
    assert back.vocab == toy.vocab and back.name == "toy"
    np.testing.assert_array_equal(back.matrix, toy.matrix)
    # the loaded vectors answer as the saved ones do (outputs, not only sizes)
    for word in toy.vocab:
        assert back.neighbours(word, 2) == toy.neighbours(word, 2)
        np.testing.assert_array_equal(back.vector(word), toy.vector(word))
    # a name without the suffix works both ways
    path2 = toy.save(tmp_path / "plain")
    assert path2.name == "plain.npz"
    plain = WordVectors.load(tmp_path / "plain")
    assert plain.vocab == toy.vocab
    np.testing.assert_array_equal(plain.matrix, toy.matrix)
    with pytest.raises(VectorsError, match="No word-vector file"):
        WordVectors.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(VectorsError, match="not a word-vector file"):
        WordVectors.load(tmp_path / "junk.npz")


def test_phrase_policy(toy: WordVectors) -> None:
    assert phrase_vector(toy, "Fever") is not None  # lower-cased by the default tokenizer
    averaged = phrase_vector(toy, "fever aspirin", policy="average")
    np.testing.assert_allclose(averaged, [0.5, 0.0, 0.5])
    assert phrase_vector(toy, "fever aspirin", policy="skip") is None
    assert phrase_vector(toy, "fever ebola", policy="average") is None
    with pytest.raises(VectorsError, match="Unknown phrase policy"):
        phrase_vector(toy, "fever", policy="guess")


def test_evaluate_similarity_matches_scipy_and_counts_coverage(toy: WordVectors) -> None:
    pairs = [
        ("fever", "cough", 9.0),
        ("fever", "pyrexia", 7.0),
        ("fever", "aspirin", 3.0),
        ("fever", "anti", 1.0),
        ("fever", "ebola", 5.0),  # not covered
        ("fever aspirin", "cough", 6.0),  # covered by averaging only
    ]
    result = evaluate_similarity(toy, pairs)
    assert isinstance(result, SimilarityResult)
    assert (result.n_covered, result.n_total) == (5, 6)
    assert result.coverage == pytest.approx(5 / 6)
    cosines = [1.0, 1 / math.sqrt(2), 0.0, -1.0, 1 / math.sqrt(2)]
    expected = spearmanr([9.0, 7.0, 3.0, 1.0, 6.0], cosines).statistic
    assert result.rho == pytest.approx(expected)
    skipped = evaluate_similarity(toy, pairs, policy="skip")
    assert skipped.n_covered == 4 and skipped.rho == pytest.approx(1.0)
    # too few pairs: NaN, not an exception
    assert math.isnan(evaluate_similarity(toy, pairs[:2]).rho)

    class Pair:  # objects with attributes are accepted too
        def __init__(self, first: str, second: str, score: float) -> None:
            self.first, self.second, self.score = first, second, score

    assert evaluate_similarity(toy, [Pair(*p) for p in pairs]).rho == pytest.approx(expected)
    with pytest.raises(VectorsError, match="pair 0"):
        evaluate_similarity(toy, [("fever",)])


def test_word_categories_planted_in_smoke_and_ohtas_classes_from_the_data_folder(tmp_path, monkeypatch) -> None:
    """Chapters 8-9 score smoke vectors against the planted categories and real-text vectors against Ohta's word
    classes, read from COURSE_DATA_DIR/word_classes as the manifest fetches them (lower-cased, clashes left out)."""
    from course_utils.errors import DataMissingError
    from course_utils.text.corpus import CATEGORIES
    from course_utils.text.vectors import word_categories

    planted, name = word_categories("synthetic")
    assert planted == {c: tuple(m) for c, m in CATEGORIES.items()} and name == "the planted categories"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("COURSE_REAL_DATA", raising=False)
    with pytest.raises(DataMissingError, match="fetch word_classes"):
        word_categories("cord19")
    folder = tmp_path / "word_classes"
    folder.mkdir()
    (folder / "README").write_text("Word classes by Tomoko Ohta.\n")
    (folder / "oncogene.txt").write_text("ABL\nEGFR\nMYC\nEGFR\nRas\n")
    (folder / "antibiotic.txt").write_text("penicillin\n\nampicillin\nras\n")
    (folder / "colour.txt").write_text("RAS\n")
    (folder / ".course-complete").write_text("{}")
    classes, name = word_categories("cord19")
    assert name == "Ohta's word classes"
    # "ras" is in three classes: left out everywhere; the class left empty is dropped; EGFR counted once
    assert classes == {"antibiotic": ("penicillin", "ampicillin"), "oncogene": ("abl", "egfr", "myc")}
