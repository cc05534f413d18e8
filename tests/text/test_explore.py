"""Chapter 11: t-SNE wrapper, neighbourhood preservation, co-occurrence table, neighbours across methods."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils.text import explore as X
from course_utils.text.vectors import WordVectors


def _clusters(n_per: int = 40, dim: int = 20, k: int = 4, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, size=(k, dim))
    labels = np.repeat(np.arange(k), n_per)
    return centres[labels] + rng.normal(0, 0.25, size=(k * n_per, dim)), [f"c{i}" for i in labels]


def test_recall_is_one_for_the_identity_and_chance_for_a_permuted_map():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 10))
    assert X.knn_recall(x, x, 10, normalize_high=False) == 1.0
    assert X.trustworthiness(x, x, 10, normalize_high=False) == pytest.approx(1.0)
    permuted = x[rng.permutation(400)]
    chance = 10 / 399
    assert abs(X.knn_recall(x, permuted, 10, normalize_high=False) - chance) < 0.02
    # a map that keeps half of the points in place and scrambles the rest keeps about half the neighbourhoods
    with pytest.raises(X.ExploreError, match="must match row by row"):
        X.knn_recall(x, x[:10], 5)


def test_recall_of_a_projection_that_drops_noise_dimensions():
    rng = np.random.default_rng(2)
    signal = rng.normal(size=(300, 2))
    x = np.hstack([signal, 1e-6 * rng.normal(size=(300, 8))])
    assert X.knn_recall(x, signal, 5, normalize_high=False) > 0.99


@pytest.mark.parametrize("backend", ["opentsne", "sklearn"])
def test_tsne_keeps_clusters(backend):
    x, labels = _clusters()
    res = X.run_tsne(x, perplexity=15, n_iter=400, backend=backend, seed=0)
    assert res.embedding.shape == (160, 2) and res.backend == backend
    assert res.learning_rate == 200.0
    assert X.knn_recall(x, res.embedding, 10) > 0.3  # chance is 10 / 159 = 0.06
    from course_utils.text.evaluate import neighbour_purity

    assert neighbour_purity(res.embedding, labels, k=5, metric="euclidean") > 0.95


def test_tsne_errors_say_what_to_change():
    x, _ = _clusters(n_per=5)
    with pytest.raises(X.ExploreError, match="needs at least 92 points"):
        X.run_tsne(x, perplexity=30)
    with pytest.raises(X.ExploreError, match="Unknown t-SNE backend"):
        X.run_tsne(x, perplexity=3, backend="umap")


def test_opentsne_methods_follow_opentsnes_own_rule():
    assert X.opentsne_methods(300) == ("Barnes-Hut", "exact")
    assert X.opentsne_methods(2000) == ("Barnes-Hut", "approximate (Annoy)")
    assert X.opentsne_methods(20_000) == ("FFT-interpolated", "approximate (Annoy)")
    import inspect

    from openTSNE import affinity, tsne  # the thresholds are openTSNE's own
    assert "n_samples < 10_000" in inspect.getsource(tsne._handle_nice_params)
    assert "data.shape[0] < 1000" in inspect.getsource(affinity.get_knn_index)
    with pytest.raises(X.ExploreError):
        X.opentsne_methods(0)


def test_perplexity_sweep_table():
    x, labels = _clusters(n_per=25)
    table, maps = X.perplexity_sweep(x, [5, 20], k=10, labels=labels, n_iter=300)
    assert list(table.index) == [5, 20] and set(maps) == {5, 20}
    assert (table["10-NN recall"] > 3 * table.attrs["random recall"]).all()
    assert (table["trustworthiness"] > 0.8).all()
    # a map already run with the same settings is reused, not run again
    again, again_maps = X.perplexity_sweep(x, [5, 20], k=10, n_iter=300, done={20: X.run_tsne(x, perplexity=20, n_iter=300)})
    assert np.array_equal(again_maps[20], maps[20]) and np.array_equal(again_maps[5], maps[5])


SENTENCES = [
    "the virus causes fever and the virus spreads".split(),
    "fever and cough follow the virus".split(),
    "the influenza virus causes fever".split(),
    "the patients recovered".split(),
]


def _dense_ppmi(sentences, window, alpha=1.0):
    vocab = sorted({w for s in sentences for w in s})
    idx = {w: i for i, w in enumerate(vocab)}
    m = np.zeros((len(vocab), len(vocab)))
    for s in sentences:
        for i, w in enumerate(s):
            for j in range(max(0, i - window), min(len(s), i + window + 1)):
                if j != i:
                    m[idx[w], idx[s[j]]] += 1
    total = m.sum()
    pw = m.sum(1) / total
    pc = m.sum(0) ** alpha / (m.sum(0) ** alpha).sum()
    with np.errstate(divide="ignore"):
        pmi = np.log((m / total) / np.outer(pw, pc))
    return vocab, m, np.maximum(pmi, 0)


@pytest.mark.parametrize("alpha", [1.0, 0.75])
def test_cooccurrence_table_equals_a_dense_ppmi_matrix(alpha):
    vocab, m, ppmi = _dense_ppmi(SENTENCES, 2, alpha)
    table = X.cooccurrence_table(SENTENCES, "virus", window=2, top=20, min_count=1, alpha=alpha)
    t = vocab.index("virus")
    by_count = table["by raw count"].dropna()
    for _, row in by_count.iterrows():
        assert row["count"] == m[t, vocab.index(row["word"])]
        assert row["PPMI"] == pytest.approx(ppmi[t, vocab.index(row["word"])], abs=1e-9)
    assert by_count["count"].is_monotonic_decreasing
    assert table["by raw count"].iloc[0]["word"] == "the"  # the most frequent neighbour is a function word
    assert table.attrs["total pairs"] == m.sum() and table.attrs["target pairs"] == m[t].sum()
    assert table["by PPMI (count >= 1)"]["PPMI"].dropna().is_monotonic_decreasing


def test_cooccurrence_of_an_absent_target():
    with pytest.raises(X.ExploreError, match="'coronavirus' never occurs"):
        X.cooccurrence_table(SENTENCES, "coronavirus")


def test_neighbours_table_and_category_points():
    vecs = WordVectors(("fever", "pyrexia", "cough", "liver"),
                       np.array([[1, 0, 0], [0.9, 0.1, 0], [0.5, 0.5, 0], [0, 0, 1]], dtype=np.float32), "toy")
    table = X.neighbours_table({"toy": vecs}, ["fever", "covid"], k=2)
    assert table.loc["fever", "toy"].startswith("pyrexia (0.99)")
    assert table.loc["covid", "toy"] == "not in vocabulary"
    words, labels, matrix = X.category_points(vecs, {"symptom": ["Fever", "cough", "rash"], "organ": ["liver"]})
    assert words == ["fever", "cough", "liver"] and labels == ["symptom", "symptom", "organ"]
    np.testing.assert_array_equal(matrix[2], [0, 0, 1])
    assert X.select_words(vecs, {"cough": 9, "liver": 3}, 2) == ["cough", "liver"]
    assert math.isclose(X.knn_recall(vecs.matrix, vecs.matrix, 1), 1.0)


def test_ppmi_svd_vectors_put_planted_category_members_together():
    from course_utils.text.corpus import synthetic_corpus
    from course_utils.text.evaluate import neighbour_purity
    from course_utils.text.sgns import sentences_of

    corpus = synthetic_corpus(150)
    vecs = X.ppmi_svd_vectors(sentences_of(corpus.texts()), min_count=2, window=4, dim=16)
    assert vecs.dim == 16 and "fever" in vecs
    words, labels, matrix = X.category_points(vecs, corpus.categories)
    chance = 1 / len(set(labels))
    assert neighbour_purity(matrix, labels, k=3) > 2 * chance
