"""Chapter 9: the course's skip-gram with negative sampling, beside autograd, gensim and direct counts."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from course_utils.errors import CourseError
from course_utils.exercises import CORRECT, INCORRECT, NOT_ATTEMPTED, ch09
from course_utils.text import sgns as S
from course_utils.text.vectors import WordVectors


def _planted_sentences(n_docs: int, seed: int = 1234):
    from course_utils.text.corpus import synthetic_corpus

    corpus = synthetic_corpus(n_docs, seed=seed)
    return S.sentences_of(corpus.texts()), corpus.categories


@pytest.fixture(scope="module")
def planted():
    return _planted_sentences(800)


# --- the loss and its gradient --------------------------------------------------------------------------------


def test_hand_derived_gradient_equals_autograd():
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(7, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    u_c = torch.randn(7, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    u_n = torch.randn(7, 3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    S.sgns_loss(v, u_c, u_n).sum().backward()
    grad_v, grad_c, grad_n = S.sgns_gradients(v.detach(), u_c.detach(), u_n.detach())
    assert torch.allclose(grad_v, v.grad, atol=1e-12)
    assert torch.allclose(grad_c, u_c.grad, atol=1e-12)
    assert torch.allclose(grad_n, u_n.grad, atol=1e-12)


def test_loss_has_its_closed_form_value():
    v = torch.tensor([[1.0, 0.0]])
    u_c = torch.tensor([[2.0, 0.0]])
    u_n = torch.tensor([[[0.0, 1.0], [-1.0, 0.0]]])
    expected = -math.log(1 / (1 + math.exp(-2))) - math.log(1 / (1 + math.exp(0))) - math.log(1 / (1 + math.exp(-1)))
    assert S.sgns_loss(v, u_c, u_n).item() == pytest.approx(expected, rel=1e-6)


def test_sparse_step_equals_sgd_on_sparse_embeddings():
    """index_add_ with the hand gradient = autograd + nn.Embedding(sparse=True) + torch.optim.SGD, repeats summed."""
    gen = torch.Generator().manual_seed(1)
    n_words, dim, lr = 12, 4, 0.1
    w_in = torch.randn(n_words, dim, generator=gen, dtype=torch.float64)
    w_out = torch.randn(n_words, dim, generator=gen, dtype=torch.float64)
    centres = torch.tensor([0, 1, 1, 2, 0, 5])  # repeated words within the batch
    contexts = torch.tensor([3, 4, 4, 6, 7, 3])
    negatives = torch.tensor([[8, 9], [10, 11], [8, 8], [9, 10], [11, 8], [9, 9]])  # never the context
    emb_in = torch.nn.Embedding(n_words, dim, sparse=True, dtype=torch.float64)
    emb_out = torch.nn.Embedding(n_words, dim, sparse=True, dtype=torch.float64)
    with torch.no_grad():
        emb_in.weight.copy_(w_in)
        emb_out.weight.copy_(w_out)
    optimizer = torch.optim.SGD([emb_in.weight, emb_out.weight], lr=lr)
    loss = S.sgns_loss(emb_in(centres), emb_out(contexts), emb_out(negatives)).sum()
    loss.backward()
    optimizer.step()
    ours_in, ours_out = w_in.clone(), w_out.clone()
    summed = S.sgd_step(ours_in, ours_out, centres, contexts, negatives, lr)
    assert summed.item() == pytest.approx(loss.item(), rel=1e-12)
    assert torch.allclose(ours_in, emb_in.weight.detach(), atol=1e-12)
    assert torch.allclose(ours_out, emb_out.weight.detach(), atol=1e-12)
    untouched = [w for w in range(n_words) if w not in {0, 1, 2, 5}]
    assert torch.equal(ours_in[untouched], w_in[untouched])  # sparse: rows outside the batch never change


def test_a_negative_equal_to_the_context_is_skipped():
    w_in = torch.ones(3, 2)
    w_out = torch.full((3, 2), 0.5)
    before = w_out.clone()
    S.sgd_step(w_in, w_out, torch.tensor([0]), torch.tensor([1]), torch.tensor([[1]]), 0.1)
    g = 1 / (1 + math.exp(-1.0)) - 1  # only the positive term acts on row 1
    assert torch.allclose(w_out[1], before[1] - 0.1 * g * torch.ones(2))



def test_window_step_equals_pair_steps_with_the_window_sharing_its_negatives():
    """One window update = sgd_step on every valid pair of the windows, each pair given its centre's negatives."""
    gen = torch.Generator().manual_seed(2)
    n_words, dim, lr = 10, 3, 0.05
    w_in = torch.randn(n_words, dim, generator=gen, dtype=torch.float64)
    w_out = torch.randn(n_words, dim, generator=gen, dtype=torch.float64)
    centres = torch.tensor([0, 1, 0])  # a repeated centre
    contexts = torch.tensor([[2, 3, 4, 5], [6, 2, 2, 7], [5, 9, 1, 1]])
    valid = torch.tensor([[True, True, True, True], [False, True, True, True], [True, True, False, False]])
    negatives = torch.tensor([[8, 9], [2, 8], [9, 9]])  # centre 1 draws its own context 2: skipped for those pairs
    rows, cols = torch.nonzero(valid, as_tuple=True)
    pair_in, pair_out = w_in.clone(), w_out.clone()
    expected = S.sgd_step(pair_in, pair_out, centres[rows], contexts[rows, cols], negatives[rows], lr)
    win_in, win_out = w_in.clone(), w_out.clone()
    loss, pairs = S.window_step(win_in, win_out, centres, contexts, valid, negatives, lr)
    assert int(pairs) == 9 and loss.item() == pytest.approx(expected.item(), rel=1e-12)
    assert torch.allclose(win_in, pair_in, atol=1e-12) and torch.allclose(win_out, pair_out, atol=1e-12)
    workspace = S.Workspace()  # a reused workspace gives the same update, batch after batch
    again_in, again_out = w_in.clone(), w_out.clone()
    for _ in range(2):
        S.window_step(again_in, again_out, centres, contexts, valid, negatives, lr, workspace=workspace)
    twice_in, twice_out = w_in.clone(), w_out.clone()
    for _ in range(2):
        S.window_step(twice_in, twice_out, centres, contexts, valid, negatives, lr)
    assert torch.equal(again_in, twice_in) and torch.equal(again_out, twice_out)


def test_windows_hold_exactly_the_pairs_of_skipgram_pairs():
    gen = torch.Generator().manual_seed(4)
    ids = torch.randint(0, 30, (500,), generator=gen)
    sentence = torch.sort(torch.randint(0, 60, (500,), generator=gen)).values
    centres, contexts = S.skipgram_pairs(ids, sentence, 5, torch.Generator().manual_seed(9))
    groups = S.skipgram_windows(ids, sentence, 5, torch.Generator().manual_seed(9))
    assert [g.reach for g in groups] == [1, 2, 3, 4, 5]
    from_windows = Counter()
    for g in groups:
        assert g.contexts.shape == g.valid.shape == (g.centres.numel(), 2 * g.reach) and bool(g.valid.any(1).all())
        r, c = torch.nonzero(g.valid, as_tuple=True)
        from_windows.update(zip(g.centres[r].tolist(), g.contexts[r, c].tolist()))
    assert from_windows == Counter(zip(centres.tolist(), contexts.tolist()))

# --- sampling -------------------------------------------------------------------------------------------------


def test_keep_probabilities_follow_word2vec_and_equal_gensim():
    counts = np.array([1000, 100, 10, 1])
    keep = S.keep_probabilities(counts, 1e-2)
    t = 1e-2 * counts.sum()
    assert keep[0] == pytest.approx((math.sqrt(1000 / t) + 1) * t / 1000)
    assert np.all(keep[2:] == 1.0) and np.all(np.diff(keep) >= 0)
    assert np.all(S.keep_probabilities(counts, 0.0) == 1.0)
    from gensim.models import Word2Vec

    sentences = [["a"] * 50 + ["b"] * 10 + ["c"] * 3]
    model = Word2Vec(min_count=1, sample=1e-2, vector_size=4)
    model.build_vocab(sentences)
    vocab = S.build_vocabulary(sentences, 1)
    ours = S.keep_probabilities(vocab.counts, 1e-2)
    theirs = [min(1.0, model.wv.get_vecattr(w, "sample_int") / 2**32) for w in vocab.words]
    assert np.allclose(ours, theirs, atol=1e-6)


def test_noise_sampler_draws_unigram_to_the_three_quarters():
    counts = np.array([800, 100, 50, 10, 1])
    sampler = S.NoiseSampler(counts, 1 << 16)
    draws = sampler.draw((200_000,), torch.Generator().manual_seed(3)).numpy()
    observed = np.bincount(draws, minlength=len(counts)) / draws.size
    expected = counts**0.75 / (counts**0.75).sum()
    assert np.allclose(observed, expected, atol=0.004)
    assert np.allclose(S.noise_distribution(counts), expected)


def test_pairs_follow_the_dynamic_window_within_sentences():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 30, (400,), generator=gen)
    sentence = torch.sort(torch.randint(0, 40, (400,), generator=gen)).values
    centres, contexts = S.skipgram_pairs(ids, sentence, 4, torch.Generator().manual_seed(5))
    reach = torch.randint(1, 5, (400,), generator=torch.Generator().manual_seed(5))  # the same draws
    expected = Counter()
    for i in range(400):
        for j in range(max(0, i - int(reach[i])), min(400, i + int(reach[i]) + 1)):
            if j != i and sentence[i] == sentence[j]:
                expected[(int(ids[i]), int(ids[j]))] += 1
    assert Counter(zip(centres.tolist(), contexts.tolist())) == expected


def test_subsampling_keeps_frequent_words_less_often():
    vocab = S.Vocabulary(("the", "fever"), np.array([9000, 1000]), 10_000)
    corpus = S.EncodedCorpus(torch.tensor([0] * 9000 + [1] * 1000), torch.zeros(10_000, dtype=torch.int64), 10_000)
    keep = torch.as_tensor(S.keep_probabilities(vocab.counts, 1e-2), dtype=torch.float32)
    ids, _ = S.subsample(corpus, keep, torch.Generator().manual_seed(0))
    kept = np.bincount(ids.numpy(), minlength=2) / np.array([9000, 1000])
    assert kept[0] == pytest.approx(float(keep[0]), abs=0.02) and kept[1] == pytest.approx(float(keep[1]), abs=0.04)
    assert kept[0] < kept[1]


# --- training ---------------------------------------------------------------------------------------------------


def test_loss_falls_and_training_is_seeded(planted):
    sentences, _ = planted
    part = sentences[:2000]
    config = S.SgnsConfig(dim=24, window=3, negatives=4, min_count=3, epochs=2, batch_size=512, loss_every=5, seed=7)
    first = S.train_sgns(part, config, device="cpu", threads=1)
    # one chunk per epoch: the curve's points come from batches, not chunks (the first batch is a point of its own)
    assert len(first.losses) >= 8 and len(first.losses) == len(first.words_seen)
    assert list(first.words_seen) == sorted(first.words_seen) and first.words_seen[-1] == first.raw_words
    assert first.losses[0] == pytest.approx(5 * math.log(2), abs=1e-4)  # output vectors still zero: (1 + k) log 2
    assert first.losses[-1] < first.losses[0] - 0.3, first.losses
    again = S.train_sgns(part, config, device="cpu", threads=1)
    assert np.array_equal(first.vectors.matrix, again.vectors.matrix)
    assert first.raw_words == 2 * sum(len(s) for s in part) and first.pairs > first.raw_words // 4
    assert first.device == "cpu" and isinstance(first.vectors, WordVectors)


def test_fresh_negatives_per_pair_train_the_same_objective(planted):
    """shared_negatives=False draws k negatives for every pair (word2vec's sampling) through sgd_step."""
    sentences, categories = planted
    part = sentences[:2000]
    base = dict(dim=24, window=3, negatives=4, min_count=3, epochs=2, batch_size=512, loss_every=5, seed=7)
    shared = S.train_sgns(part, S.SgnsConfig(**base), device="cpu", threads=1)
    fresh = S.train_sgns(part, S.SgnsConfig(**base, shared_negatives=False), device="cpu", threads=1)
    assert fresh.pairs == pytest.approx(shared.pairs, rel=0.01)  # the same windows (draws differ after epoch 1)
    assert fresh.losses[0] == pytest.approx(5 * math.log(2), abs=1e-4)
    assert fresh.losses[-1] < fresh.losses[0] - 0.3, fresh.losses
    assert not np.array_equal(fresh.vectors.matrix, shared.vectors.matrix)  # other negatives, other vectors
    a = S.category_recovery(shared.vectors, categories).score
    b = S.category_recovery(fresh.vectors, categories).score
    assert abs(a - b) <= 0.1, (a, b)


def test_own_sgns_is_within_005_of_gensim_on_the_planted_categories(planted):
    sentences, categories = planted
    config = S.SgnsConfig(dim=40, window=5, negatives=5, min_count=3, sample=1e-3, epochs=5, batch_size=1024)
    ours = S.category_recovery(S.train_sgns(sentences, config, device="cpu", threads=1).vectors, categories)
    gensim = S.category_recovery(S.train_gensim(sentences, config, workers=1).vectors, categories)
    assert 0.5 <= gensim.score <= 0.9, gensim  # a task that separates good from bad vectors
    assert abs(ours.score - gensim.score) <= 0.05, (ours, gensim)
    assert ours.score > 3 * ours.chance


@pytest.mark.gpu
def test_training_runs_on_the_gpu_with_pairs_made_there(planted):
    sentences, categories = planted
    config = S.SgnsConfig(dim=40, window=5, negatives=5, min_count=3, epochs=5, batch_size=1024)
    result = S.train_sgns(sentences, config)  # pick_device chooses the GPU
    assert result.device.startswith("cuda")
    assert S.category_recovery(result.vectors, categories).score > 0.4


def test_seed_loop_makes_every_fixed_window_pair():
    sentences = [["a", "b", "c", "d"], ["b", "c"], ["a", "z"]]
    vocab = S.build_vocabulary(sentences, 1)
    timing = S.seed_loop_sgns(sentences, vocab, S.SgnsConfig(dim=4, window=2, negatives=2, min_count=1))
    assert timing.pairs == (2 + 3 + 3 + 2) + 2 + 2
    assert timing.raw_words == 8 and timing.pairs_per_second > 0
    assert np.isfinite(timing.vectors.matrix).all() and timing.vectors.dim == 4


def test_category_recovery_on_known_vectors():
    categories = {"a": ("a1", "a2", "a3"), "b": ("b1", "b2", "b3"), "c": ("c1", "c2", "c3")}
    words = [w for members in categories.values() for w in members]
    centres = {"a": [1, 0, 0], "b": [0, 1, 0], "c": [0, 0, 1]}
    rng = np.random.default_rng(0)
    matrix = np.array([np.array(centres[w[0]]) + 0.05 * rng.standard_normal(3) for w in words])
    perfect = S.category_recovery(WordVectors(tuple(words), matrix, "clusters"), categories, k=2)
    assert perfect.score == 1.0 and perfect.n_words == 9 and perfect.chance == pytest.approx(2 / 8)
    swapped = S.category_recovery(WordVectors(tuple(words), matrix, "clusters"),
                                  {"a": ("a1", "b2", "c3"), "b": ("b1", "c2", "a3"), "c": ("c1", "a2", "b3")}, k=2)
    assert swapped.score == 0.0
    with pytest.raises(S.SgnsError, match="category words"):
        S.category_recovery(WordVectors(("x", "y"), np.eye(2), "tiny"), categories)


def test_settings_errors_say_what_to_change():
    with pytest.raises(CourseError, match="dim"):
        S.SgnsConfig(dim=0)
    with pytest.raises(S.SgnsError, match="min_count=9"):
        S.build_vocabulary([["a", "b"]], 9)
    with pytest.raises(S.SgnsError, match="Unknown method"):
        S.trained_vectors(method="glove")
    from course_utils.profiles import chapter_settings

    config = S.SgnsConfig.from_settings(chapter_settings(9, "smoke"))
    assert config.dim == chapter_settings(9, "smoke").dim and config.sample == chapter_settings(9, "smoke").sample


def test_trained_vectors_are_built_once_and_reused(tmp_path, planted):
    from course_utils.profiles import chapter_settings

    sentences, _ = planted
    settings = chapter_settings(9, "smoke")
    kwargs = dict(sentences=sentences[:300], corpus_name="test", device="cpu", root=tmp_path,
                  overrides={"epochs": 1, "dim": 8})
    first = S.trained_vectors(settings, **kwargs)
    folders = list((tmp_path / "cache").glob("ch09-sgns-*"))
    assert len(folders) == 1 and (folders[0] / "vectors.npz").is_file()
    stamp = (folders[0] / "vectors.npz").stat().st_mtime_ns
    second = S.trained_vectors(settings, **kwargs)
    assert (folders[0] / "vectors.npz").stat().st_mtime_ns == stamp
    assert first.vocab == second.vocab and np.array_equal(first.matrix, second.matrix) and first.dim == 8
    other = S.trained_vectors(settings, method="gensim", **kwargs)
    assert other.dim == 8 and len(list((tmp_path / "cache").glob("ch09-gensim-*"))) == 1


# --- exercises ---------------------------------------------------------------------------------------------------


def untouched(*args):
    ...


@pytest.mark.parametrize(("checker", "solution"), [
    (ch09.check_target_gradient, ch09.target_gradient_solution),
    (ch09.check_keep_probability, ch09.keep_probability_solution),
])
def test_exercise_solutions_pass_and_untouched_cells_are_not_attempted(checker, solution):
    good = checker(solution)
    assert good.status == CORRECT, good
    assert checker(untouched).status == NOT_ATTEMPTED


def _sigmoid(x):
    return 1 / (1 + torch.exp(-x))


GRADIENT_SLIPS = {
    "sign of the positive term": (
        lambda v, uc, un: (1 - _sigmoid((uc * v).sum(-1)))[:, None] * uc
        + (_sigmoid(torch.bmm(un, v[:, :, None]).squeeze(2))[:, :, None] * un).sum(1), "sign"),
    "negatives left out": (lambda v, uc, un: (_sigmoid((uc * v).sum(-1)) - 1)[:, None] * uc, "negatives"),
    "sigmoid of the wrong sign for negatives": (
        lambda v, uc, un: (_sigmoid((uc * v).sum(-1)) - 1)[:, None] * uc
        + (_sigmoid(-torch.bmm(un, v[:, :, None]).squeeze(2))[:, :, None] * un).sum(1), "negative"),
    "raises": (lambda v, uc, un: v @ v, "raised"),
}


@pytest.mark.parametrize("slip", list(GRADIENT_SLIPS))
def test_gradient_slips_get_specific_feedback(slip):
    fn, phrase = GRADIENT_SLIPS[slip]
    feedback = ch09.check_target_gradient(fn)
    assert feedback.status == INCORRECT and phrase in feedback.message, feedback


KEEP_SLIPS = {
    "discard instead of keep": (lambda c, s: 1 - S.keep_probabilities(c, s), "discard"),
    "not capped at one": (lambda c, s: (np.sqrt(c / (s * c.sum())) + 1) * (s * c.sum()) / c, "at most 1"),
    "the paper's formula": (lambda c, s: np.minimum(1, np.sqrt(s * c.sum() / c)), "paper"),
}


@pytest.mark.parametrize("slip", list(KEEP_SLIPS))
def test_keep_slips_get_specific_feedback(slip):
    fn, phrase = KEEP_SLIPS[slip]
    feedback = ch09.check_keep_probability(fn)
    assert feedback.status == INCORRECT and phrase in feedback.message, feedback
