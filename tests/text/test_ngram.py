"""Tests of course_utils.text.ngram (chapter 8): add-k and Kneser-Ney against a hand-worked example."""

from __future__ import annotations

import math
from fractions import Fraction as F

import pytest

from course_utils.errors import CourseError
from course_utils.text.ngram import BOS, EOS, UNK, NgramError, NgramModel, ngram_sparsity

# The hand-worked example (bigram model, d = 3/4). Padded training text:
#   <s> the cat sat </s> | <s> the dog sat </s> | <s> a cat ran </s>
# Vocabulary predicted over: the cat sat dog a ran </s> <unk>  -> |V| = 8.
# Bigram types (10): <s>-the, the-cat, cat-sat, sat-</s>, the-dog, dog-sat, <s>-a, a-cat, cat-ran, ran-</s>
# Continuation counts N1+(. w): the 1, cat 2 (the, a), sat 2 (cat, dog), </s> 2 (sat, ran), dog 1, a 1, ran 1,
#   <unk> 0; total N1+(. .) = 10; 7 words have a continuation count.
# Unigram level: P1(w) = max(N1+(. w) - d, 0) / 10 + d * 7 / 10 * 1/8; d * 7/10 * 1/8 = 21/320.
TRAIN = [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat", "ran"]]
D = F(3, 4)
LAMBDA_UNIFORM = F(21, 320)
P1 = {
    "cat": F(5, 40) + LAMBDA_UNIFORM,  # (2 - 3/4) / 10 = 1/8 -> 61/320
    "sat": F(5, 40) + LAMBDA_UNIFORM,
    EOS: F(5, 40) + LAMBDA_UNIFORM,
    "the": F(1, 40) + LAMBDA_UNIFORM,  # (1 - 3/4) / 10 = 1/40 -> 29/320
    "dog": F(1, 40) + LAMBDA_UNIFORM,
    UNK: LAMBDA_UNIFORM,
}
HAND_KN = {
    # c(the cat) = 1, c(the .) = 2, two followers: (1 - 3/4)/2 + (3/4)(2/2) P1(cat)
    ("cat", ("the",)): F(1, 8) + D * P1["cat"],
    # unseen bigram: only the interpolated share
    ("sat", ("the",)): D * P1["sat"],
    # c(sat </s>) = 2, c(sat .) = 2, one follower: (2 - 3/4)/2 + (3/4)(1/2) P1(</s>)
    (EOS, ("sat",)): F(5, 8) + F(3, 8) * P1[EOS],
    # c(<s> the) = 2, c(<s> .) = 3, two followers: (5/4)/3 + (3/4)(2/3) P1(the)
    ("the", (BOS,)): F(5, 12) + F(1, 2) * P1["the"],
    # an unseen context backs off entirely
    ("dog", ("zebra",)): P1["dog"],
    # an unknown word is <unk>
    ("zebra", ("the",)): D * P1[UNK],
}


def test_hand_worked_values_are_what_they_say() -> None:
    assert P1["cat"] == F(61, 320) and P1["the"] == F(29, 320)
    assert HAND_KN[("cat", ("the",))] == F(26796875, 10**8)  # 0.26796875 as worked on paper
    assert HAND_KN[(EOS, ("sat",))] == F(696484375, 10**9)


@pytest.mark.parametrize(("word", "context"), list(HAND_KN))
def test_kneser_ney_equals_hand_worked_example(word: str, context: tuple[str, ...]) -> None:
    model = NgramModel(order=2, smoothing="kneser_ney", discount=0.75).fit(TRAIN)
    assert len(model.vocab) == 8
    assert model.prob(word, context) == pytest.approx(float(HAND_KN[(word, context)]), abs=1e-15)


def test_add_k_and_mle_equal_hand_worked_example() -> None:
    laplace = NgramModel(order=2, smoothing="add_k", k=1.0).fit(TRAIN)
    assert laplace.prob("cat", ["the"]) == pytest.approx(2 / 10)  # (1 + 1) / (2 + 8)
    assert laplace.prob("sat", ["the"]) == pytest.approx(1 / 10)
    assert laplace.prob(EOS, ["sat"]) == pytest.approx(3 / 10)
    assert laplace.prob("cat", ["zebra"]) == pytest.approx(1 / 8)  # unseen context: uniform
    half = NgramModel(order=2, smoothing="add_k", k=0.5).fit(TRAIN)
    assert half.prob("cat", ["the"]) == pytest.approx(1.5 / 6)
    mle = NgramModel(order=2, smoothing="mle").fit(TRAIN)
    assert mle.prob("cat", ["the"]) == 0.5 and mle.prob("sat", ["the"]) == 0.0
    assert mle.perplexity([["the", "cat", "sat"]]) < math.inf
    assert mle.perplexity([["the", "sat"]]) == math.inf  # the seed's formula on unseen text


def test_perplexity_is_the_hand_computed_geometric_mean() -> None:
    model = NgramModel(order=2, smoothing="kneser_ney").fit(TRAIN)
    probs = [HAND_KN[("the", (BOS,))], HAND_KN[("cat", ("the",))], F(1, 8) + D * P1["sat"], HAND_KN[(EOS, ("sat",))]]
    expected = math.exp(-sum(math.log(p) for p in probs) / 4)
    assert model.perplexity([["the", "cat", "sat"]]) == pytest.approx(expected, rel=1e-12)
    logp, n = model.sentence_logprob(["the", "cat", "sat"])
    assert n == 4 and logp == pytest.approx(sum(math.log(p) for p in probs))


SENTENCES = [
    "patients with fever were treated with remdesivir".split(),
    "patients with cough were treated with dexamethasone".split(),
    "the virus binds the receptor".split(),
    "the virus enters the cell".split(),
    "fever and cough were common".split(),
    "patients with fever and cough".split(),
]


@pytest.mark.parametrize("smoothing", ["kneser_ney", "add_k"])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_distributions_sum_to_one(order: int, smoothing: str) -> None:
    model = NgramModel(order=order, smoothing=smoothing, k=0.1).fit(SENTENCES)
    for context in ([], ["patients", "with"], ["the", "virus"], ["with", "zebra"], ["unseen", "words"], [BOS, BOS]):
        total = sum(model.prob(w, context) for w in model.vocab)
        assert total == pytest.approx(1.0, abs=1e-12), (order, smoothing, context)


def test_kneser_ney_beats_add_one_on_heldout_and_higher_orders_help_on_repetitive_text() -> None:
    train = SENTENCES * 3
    heldout = [["patients", "with", "cough", "were", "treated", "with", "remdesivir"]]
    kn2 = NgramModel(2, "kneser_ney").fit(train).perplexity(heldout)
    kn3 = NgramModel(3, "kneser_ney").fit(train).perplexity(heldout)
    add1 = NgramModel(2, "add_k", k=1.0).fit(train).perplexity(heldout)
    assert kn3 < kn2 < add1
    assert NgramModel(2, "mle").fit(train).perplexity([["fever", "binds"]]) == math.inf


def test_sparsity_by_order() -> None:
    rows = ngram_sparsity(SENTENCES[:4], SENTENCES[4:], max_order=3)
    assert [r.order for r in rows] == [1, 2, 3]
    vocab = len({w for s in SENTENCES[:4] for w in s})
    assert rows[0].possible == vocab and rows[1].possible == vocab**2
    assert rows[0].distinct == vocab
    # held-out: "fever and cough were common" + "patients with fever and cough": 10 unigrams, 3 unseen (and x2, common)
    assert rows[0].unseen_heldout == pytest.approx(3 / 10)
    assert rows[2].unseen_heldout >= rows[1].unseen_heldout >= rows[0].unseen_heldout
    assert rows[1].filled < rows[0].filled


def test_errors() -> None:
    with pytest.raises(NgramError, match="has not been trained"):
        NgramModel(2).prob("a", [])
    with pytest.raises(NgramError, match="Unknown smoothing"):
        NgramModel(2, "witten_bell")
    with pytest.raises(NgramError, match="0 < d < 1"):
        NgramModel(2, discount=1.5)
    with pytest.raises(NgramError, match="never predicted"):
        NgramModel(2).fit(TRAIN).prob(BOS, [])
    assert issubclass(NgramError, CourseError)


def test_perplexity_table_counts_once_and_equals_separately_fitted_models() -> None:
    """Chapter 8's table fits each order once and re-scores it with each smoothing (with_smoothing): the figures
    must be those of a model of that smoothing fitted on its own; the original model is left as it was."""
    from course_utils.text.ngram import perplexity_table

    train = SENTENCES * 2 + TRAIN
    heldout = [["the", "cat", "sat"], ["patients", "with", "fever", "were", "treated"], ["a", "dog", "ran"]]
    table = perplexity_table(train, heldout, 3, ks=(1.0, 0.01))
    assert list(table.columns) == ["mle", "add_1", "add_0.01", "kneser_ney"] and list(table.index) == [1, 2, 3]
    for order in (1, 2, 3):
        assert table.loc[order, "mle"] == NgramModel(order, "mle").fit(train).perplexity(heldout)
        for k in (1.0, 0.01):
            fitted = NgramModel(order, "add_k", k=k).fit(train).perplexity(heldout)
            assert table.loc[order, f"add_{k:g}"] == pytest.approx(fitted, rel=1e-12)
        assert table.loc[order, "kneser_ney"] == pytest.approx(
            NgramModel(order, "kneser_ney").fit(train).perplexity(heldout), rel=1e-12)
    model = NgramModel(2, "kneser_ney").fit(TRAIN)
    add_half = model.with_smoothing("add_k", k=0.5)
    assert (add_half.smoothing, add_half.k, model.smoothing) == ("add_k", 0.5, "kneser_ney")
    assert float(add_half.prob("cat", ["the"])) == pytest.approx((1 + 0.5) / (2 + 0.5 * 8))
    assert model.prob("cat", ["the"]) == pytest.approx(float(HAND_KN[("cat", ("the",))]))
    with pytest.raises(NgramError, match="k > 0"):
        model.with_smoothing("add_k", k=0)
    with pytest.raises(NgramError, match="not been trained"):
        NgramModel(2).with_smoothing("mle")
