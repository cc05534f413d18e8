"""Retrieve, then rerank: candidate features and the learned reranker (chapter 14)."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.ie.linking import linkers as L
from course_utils.ie.linking.data import Vocabulary
from course_utils.ie.linking.rerank import FEATURE_NAMES, CandidateReranker, candidate_features

VOCAB = Vocabulary(("breast cancer", "breast cancers", "cancer of the breast", "ovarian cancer", "heart disease",
                    "cardiopathy"),
                   ("D001943", "C000001", "D001943", "D010051", "D006331", "OMIM:100000"),
                   ("train mentions", "vocabulary", "vocabulary", "vocabulary", "vocabulary", "vocabulary"))


def test_features_describe_each_candidate():
    tfidf = L.TfidfLinker(VOCAB)
    sets = candidate_features(["breast cancer", "HD"], tfidf, tfidf, variants=["breast cancer", "heart disease"],
                              cited=[(), ("OMIM:100000",)], known_ids={"D001943"},
                              gold=[("D001943",), ("D006331",)], n_candidates=3)
    assert len(sets) == 2 and sets.feature_names == FEATURE_NAMES
    assert all(f.shape == (3, len(FEATURE_NAMES)) for f in sets.features)
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}
    first = sets.features[0]
    # the first stage equals the context linker's ranking: dense + 0.25 sparse + prior + citation
    context = L.ContextLinker(L.CombinedLinker(tfidf, tfidf, 0.25), known_ids={"D001943"})
    assert context.rank(["breast cancer", "HD"], k=3, variants=["breast cancer", "heart disease"],
                        cited=[(), ("OMIM:100000",)]).ids == sets.ids
    assert sets.ids[0][0] == "D001943" and sets.names[0][0] == "breast cancer"
    assert first[0, col["first-stage score"]] == pytest.approx(1.0 + 0.25 + 0.1, abs=1e-5)
    assert first[0, col["a name matches exactly"]] == 1 and first[0, col["id annotated in training"]] == 1
    assert first[0, col["log(1 + training names of id)"]] == pytest.approx(np.log(2))
    assert first[0, col["log(1 + names of id)"]] == pytest.approx(np.log(3))
    assert first[0, col["best dense name is a training mention"]] == 1
    assert list(first[:, col["first-stage rank"]]) == [0, 1, 2] and first[0, col["gap to first-stage top"]] == 0
    assert context.bonus.sum() == pytest.approx(0.2)  # two names of the known id
    second = dict(zip(sets.ids[1], sets.features[1]))
    assert second["OMIM:100000"][col["id cited by the abstract"]] == 1
    assert second["OMIM:100000"][col["OMIM id"]] == 1 and second["D006331"][col["MeSH descriptor"]] == 1
    assert sets.features[1][0, col["mention is a short form"]] == 1
    assert sets.features[1][0, col["other form differs"]] == 1
    # the short form links through its other form: heart disease is found only that way
    assert second["D006331"][col["sparse, other form"]] == pytest.approx(1.0, abs=1e-5)
    assert second["D006331"][col["sparse, as written"]] < 0.5
    assert [list(lab) for lab in sets.labels] == [[c == "D001943" for c in sets.ids[0]],
                                                  [c == "D006331" for c in sets.ids[1]]]
    assert sets.recall() == 1.0
    with_ref = candidate_features(["breast cancer"], tfidf, tfidf, reference=tfidf, n_candidates=2)
    assert with_ref.features[0].shape == (2, len(FEATURE_NAMES) + 2) and with_ref.labels is None
    assert with_ref.features[0][0, -2] == pytest.approx(1.0, abs=1e-5) and with_ref.features[0][0, -1] == 0


class _Table:
    """A linker stub whose scores are given per query string."""

    def __init__(self, vocabulary: Vocabulary, rows: dict[str, list[float]]) -> None:
        self.vocabulary, self.rows = vocabulary, rows

    def scores(self, queries):
        return np.array([self.rows[q] for q in queries], dtype=np.float32)


def test_first_stage_keeps_the_better_forms_combined_score_as_the_context_linker_does():
    # id A: dense likes the written form, sparse the other; id B: both like the other form. Each form's combined
    # score makes B first (1.1 against 1.0); adding the best dense and the best sparse of different forms would
    # make A first (1.0 + 0.25 x 0.8 = 1.2)
    vocab = Vocabulary(("a name", "b name"), ("DA", "DB"))
    dense = _Table(vocab, {"w": [1.0, 0.0], "o": [0.0, 1.05]})
    sparse = _Table(vocab, {"w": [0.0, 0.0], "o": [0.8, 0.2]})
    sets = candidate_features(["w"], dense, sparse, variants=["o"], n_candidates=2)
    context = L.ContextLinker(L.CombinedLinker(dense, sparse, 0.25)).rank(["w"], k=2, variants=["o"])
    assert sets.ids == context.ids == (("DB", "DA"),)
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}
    assert sets.features[0][:, col["first-stage score"]] == pytest.approx([1.1, 1.0], abs=1e-6)


def _planted(seed: int, n: int) -> tuple[list[str], list[tuple[str]], list[str]]:
    """Queries whose gold is the one of two equally spelt ids that training annotators used."""
    rng = np.random.default_rng(seed)
    queries, gold, known = [], [], []
    for i in range(n):
        stem = f"disease {i:03d}"
        queries.append(stem)
        pick = f"D{i:03d}{'A' if rng.random() < 0.5 else 'B'}"
        gold.append((pick,))
        known.append(pick)
    return queries, gold, known


def test_the_reranker_learns_a_planted_rule_the_first_stage_misses():
    # every query has two ids with the same name; the gold one is the id annotated in training, which the
    # first stage ignores (prior 0) and which the reranker must learn from the "id annotated in training" feature
    names, ids = [], []
    for i in range(120):
        for tail in "AB":
            names.append(f"disease {i:03d}")
            ids.append(f"D{i:03d}{tail}")
    vocab = Vocabulary(tuple(names), tuple(ids))
    tfidf = L.TfidfLinker(vocab)
    queries, gold, known = _planted(1, 120)

    def sets(part: slice):
        return candidate_features(queries[part], tfidf, tfidf, known_ids=known, gold=gold[part], prior=0.0,
                                  n_candidates=2)

    train, test = sets(slice(0, 80)), sets(slice(80, 120))
    first_stage = L.accuracy_at_k(test.ids, gold[80:], 1)
    assert 0.2 < first_stage < 0.8  # ties go to dictionary order: A, whatever the gold
    reranker = CandidateReranker(min_samples_leaf=5).fit(train)
    ranking = reranker.rank(test, k=2)
    assert L.accuracy_at_k(ranking.ids, gold[80:], 1) == 1.0
    assert all(len(r) == 2 and r[0] >= r[1] for r in ranking.scores)
    assert ranking.names[0][0] == "disease 080"
    again = CandidateReranker(min_samples_leaf=5).fit(train).rank(test, k=2)
    assert again.scores == ranking.scores  # seeded: the same fit twice


def test_reranker_errors_are_clear():
    tfidf = L.TfidfLinker(VOCAB)
    unlabelled = candidate_features(["breast cancer"], tfidf, tfidf, n_candidates=2)
    with pytest.raises(L.LinkingError, match="needs candidates with gold labels"):
        CandidateReranker().fit(unlabelled)
    with pytest.raises(L.LinkingError, match="not fitted"):
        CandidateReranker().rank(unlabelled)
    with pytest.raises(L.LinkingError, match="no gold labels"):
        unlabelled.recall()
    only_gold = candidate_features(["breast cancer"], tfidf, tfidf, gold=[("D001943",)], n_candidates=1)
    with pytest.raises(L.LinkingError, match="same label"):
        CandidateReranker().fit(only_gold)
    with pytest.raises(L.LinkingError, match="2 variants for 1 queries"):
        candidate_features(["a"], tfidf, tfidf, variants=["a", "b"])
    with pytest.raises(L.LinkingError, match="n_candidates must be at least 1"):
        candidate_features(["a"], tfidf, tfidf, n_candidates=0)
    other = L.TfidfLinker(Vocabulary(("x",), ("D1",)))
    with pytest.raises(L.LinkingError, match="another dictionary"):
        candidate_features(["a"], tfidf, other)
    labelled = candidate_features(["breast cancer", "heart disease"], tfidf, tfidf,
                                  gold=[("D001943",), ("D006331",)], n_candidates=3)
    fitted = CandidateReranker(min_samples_leaf=1).fit(labelled)
    with pytest.raises(L.LinkingError, match="other features"):
        fitted.rank(candidate_features(["a"], tfidf, tfidf, reference=tfidf))
