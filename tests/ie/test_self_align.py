"""Online hard-pair mining and the multi-similarity loss, against a direct computation and
pytorch-metric-learning (chapter 14)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from course_utils.ie.self_align import mine_hard_triplets, multi_similarity_loss, synonym_pairs


def _batch(seed: int = 0, n: int = 12, d: int = 8, classes: int = 4):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=g)
    labels = torch.arange(n) % classes
    return emb, labels


def test_miner_keeps_exactly_the_margin_violations_on_a_hand_made_batch():
    # Unit vectors on a circle: 0 and 1 are concept A, 2 is concept B.
    angle = torch.tensor([0.0, 0.9, 0.3])
    emb = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    labels = torch.tensor([0, 0, 1])
    d = lambda i, j: 2 * math.sin(abs(angle[i] - angle[j]).item() / 2)  # chord length  # noqa: E731
    a, p, n = mine_hard_triplets(emb, labels, margin=0.2)
    kept = set(zip(a.tolist(), p.tolist(), n.tolist()))
    expected = {(x, y, z) for x, y, z in [(0, 1, 2), (1, 0, 2)] if d(x, z) - d(x, y) <= 0.2}
    assert kept == expected == {(0, 1, 2), (1, 0, 2)}  # B sits between the two names of A: both are hard
    # with a negative far away, nothing is mined
    far = torch.stack([torch.cos(torch.tensor([0.0, 0.1, 3.0])), torch.sin(torch.tensor([0.0, 0.1, 3.0]))], 1)
    assert mine_hard_triplets(far, labels, margin=0.2)[0].numel() == 0


def test_miner_equals_brute_force_and_pytorch_metric_learning():
    from pytorch_metric_learning.miners import TripletMarginMiner

    emb, labels = _batch()
    mine = set(zip(*(t.tolist() for t in mine_hard_triplets(emb, labels, 0.2))))
    x = torch.nn.functional.normalize(emb, dim=1)
    brute = set()
    for a, p, n in itertools.product(range(len(labels)), repeat=3):
        if a != p and labels[a] == labels[p] and labels[a] != labels[n]:
            if torch.dist(x[a], x[n]) - torch.dist(x[a], x[p]) <= 0.2:
                brute.add((a, p, n))
    ref = set(zip(*(t.tolist() for t in TripletMarginMiner(margin=0.2, type_of_triplets="all")(emb, labels))))
    assert mine == brute == ref and len(mine) > 0


def _direct_ms_loss(emb, labels, triplets, alpha, beta, base):
    x = torch.nn.functional.normalize(emb, dim=1)
    s = x @ x.T
    pos = {(a, p) for a, p, _ in zip(*(t.tolist() for t in triplets))}
    neg = {(a, n) for a, _, n in zip(*(t.tolist() for t in triplets))}
    total = 0.0
    for i in range(len(labels)):
        ps = [s[i, j].item() for j in range(len(labels)) if (i, j) in pos]
        ns = [s[i, j].item() for j in range(len(labels)) if (i, j) in neg]
        total += math.log(1 + sum(math.exp(-alpha * (v - base)) for v in ps)) / alpha
        total += math.log(1 + sum(math.exp(beta * (v - base)) for v in ns)) / beta
    return total / len(labels)


@pytest.mark.parametrize("alpha,beta,base", [(1.0, 60.0, 0.5), (2.0, 50.0, 0.5), (1.0, 10.0, 0.0)])
def test_ms_loss_equals_direct_computation_and_pytorch_metric_learning(alpha, beta, base):
    from pytorch_metric_learning.losses import MultiSimilarityLoss

    emb, labels = _batch(seed=3)
    triplets = mine_hard_triplets(emb, labels, 0.2)
    ours = multi_similarity_loss(emb, labels, triplets, alpha=alpha, beta=beta, base=base)
    direct = _direct_ms_loss(emb, labels, triplets, alpha, beta, base)
    ref = MultiSimilarityLoss(alpha=alpha, beta=beta, base=base)(emb, labels, triplets)
    assert ours.item() == pytest.approx(direct, rel=1e-5)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    # without a miner: every pair of the batch
    assert multi_similarity_loss(emb, labels, alpha=alpha, beta=beta, base=base).item() == pytest.approx(
        MultiSimilarityLoss(alpha=alpha, beta=beta, base=base)(emb, labels).item(), rel=1e-5)


def test_loss_gradient_pulls_synonyms_together():
    emb, labels = _batch(seed=5)
    emb.requires_grad_(True)
    loss = multi_similarity_loss(emb, labels, mine_hard_triplets(emb.detach(), labels, 0.2))
    loss.backward()
    stepped = (emb - 0.5 * emb.grad).detach()
    assert multi_similarity_loss(stepped, labels).item() < multi_similarity_loss(emb.detach(), labels).item()


def test_synonym_pairs():
    rows = [("a", "X"), ("b", "X"), ("c", "X"), ("d", "Y"), ("a", "X")]
    pairs = synonym_pairs(rows)
    assert len(pairs) == 6 and all(c == "X" for _, _, c in pairs)  # Y has one name: no pair
    assert len(synonym_pairs(rows, max_pairs_per_concept=2)) == 2


def test_dictionary_negatives_are_the_nearest_names_of_other_concepts_and_join_the_batches():
    from course_utils.ie.linking_data import Vocabulary
    from course_utils.ie.self_align import SelfAlignSettings, dictionary_negatives, self_align
    from course_utils.text.pretrained import load_encoder

    encoder = load_encoder(device="cpu")
    dictionary = Vocabulary(("breast cancer", "breast neoplasms", "ovarian neoplasms", "kidney failure",
                             "renal insufficiency", "breast cancer"),
                            ("D001943", "D001943", "D010051", "D051437", "D051437", "D999999"))
    found = dictionary_negatives(encoder, [("breast cancer", "D001943"), ("kidney failure", "D051437")],
                                 dictionary, k=2)
    # other concepts only, and never the anchor's own name (here given a second id by a careless annotator)
    assert [c for _, c in found[("breast cancer", "D001943")]] == ["D010051", "D051437"]
    assert all(n != "kidney failure" and c != "D051437" for n, c in found[("kidney failure", "D051437")])
    rows = [("breast cancer", "D001943"), ("breast neoplasms", "D001943"), ("kidney failure", "D051437"),
            ("renal insufficiency", "D051437")]
    # learning rate 0: both runs see the same encoder and the same pair order, so the batch with dictionary
    # negatives is the plain batch plus those names, and mining must find more triplets in it
    plain = self_align(encoder, rows, SelfAlignSettings(epochs=1, batch_size=4, learning_rate=0.0, weight_decay=0.0))
    settings = SelfAlignSettings(epochs=1, batch_size=4, learning_rate=0.0, weight_decay=0.0, dictionary_negatives=2)
    history = self_align(encoder, rows, settings, dictionary=dictionary)
    assert history.steps == plain.steps == 1 and history.mined[0] > plain.mined[0]
    with pytest.raises(ValueError, match="two different names"):
        self_align(encoder, [("a", "X"), ("b", "Y")], settings, dictionary=dictionary)


def test_on_epoch_end_sees_each_epoch_in_eval_mode_and_leaves_training_unchanged():
    from course_utils.ie.self_align import SelfAlignSettings, self_align
    from course_utils.text.pretrained import load_encoder

    rows = [("breast cancer", "D001943"), ("breast neoplasms", "D001943"), ("kidney failure", "D051437"),
            ("renal insufficiency", "D051437")]
    settings = SelfAlignSettings(epochs=2, batch_size=2, learning_rate=1e-4)
    encoder = load_encoder(device="cpu")
    seen: list[tuple[int, bool]] = []
    history = self_align(encoder, rows, settings, on_epoch_end=lambda e: seen.append((e, encoder[1].training)))
    assert seen == [(1, False), (2, False)] and not encoder[1].training
    again = self_align(load_encoder(device="cpu"), rows, settings)  # same seed, no callback: the same losses
    assert history.losses == pytest.approx(again.losses)


def test_average_weights_interpolates_every_float_weight():
    import torch

    from course_utils.ie.self_align import average_weights

    def net(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))

    base, tuned = net(0), net(1)
    before = {k: v.clone() for k, v in tuned.state_dict().items()}
    mixed = average_weights(tuned, base, 0.25)
    for k, v in mixed.state_dict().items():
        assert torch.allclose(v, 0.25 * before[k] + 0.75 * base.state_dict()[k])
    assert torch.equal(average_weights(net(1), base, 0.0)[0].weight, base[0].weight)
    assert torch.equal(average_weights(net(1), base, 1.0)[0].weight, net(1)[0].weight)
    with pytest.raises(ValueError, match="alpha must be in"):
        average_weights(net(1), base, 1.5)
    with pytest.raises(ValueError, match="differ in their weights"):
        average_weights(torch.nn.Linear(3, 2), base, 0.5)


def test_candidate_loss_equals_a_direct_computation():
    from course_utils.ie.self_align import candidate_loss

    g = torch.Generator().manual_seed(3)
    query, cands = torch.randn(3, 8, generator=g), torch.randn(3, 4, 8, generator=g)
    gold = torch.tensor([[True, False, True, False], [False, False, False, True], [False] * 4])
    loss = candidate_loss(query, cands, gold, temperature=0.1)
    expected = []
    for b in range(2):  # the third query has no gold candidate and adds nothing
        q = query[b] / query[b].norm()
        s = [float(q @ (c / c.norm())) / 0.1 for c in cands[b]]
        total = sum(math.exp(x) for x in s)
        expected.append(-math.log(sum(math.exp(x) for x, y in zip(s, gold[b]) if y) / total))
    assert float(loss) == pytest.approx(sum(expected) / 2, rel=1e-5)
    query.requires_grad_()
    none = candidate_loss(query, cands, torch.zeros(3, 4, dtype=torch.bool))
    none.backward()  # no query has a gold candidate: a zero loss that still back-propagates, as zeros
    assert float(none.detach()) == 0.0 and query.grad is not None and float(query.grad.abs().sum()) == 0.0


def test_candidate_align_retrieves_hard_candidates_and_raises_the_gold_name():
    from course_utils.ie.linking_data import Vocabulary
    from course_utils.ie.self_align import CandidateSettings, _retrieve_candidates, candidate_align
    from course_utils.text.pretrained import embed_texts, load_encoder

    encoder = load_encoder(device="cpu")
    dictionary = Vocabulary(("breast cancer", "mammary carcinoma", "ovarian cancer", "kidney failure",
                             "renal insufficiency", "breast cancer", "lung cancer"),
                            ("D001943", "D001943", "D010051", "D051437", "D051437", "D999999", "D008175"))
    queries = [("breast cancer", "D001943"), ("kidney failure", "D051437"), ("lung cancer", "D008175")]
    found = _retrieve_candidates(encoder, queries, dictionary, k=3, max_length=25)
    # names equal to the query are skipped (even under another id); a gold name is always among the candidates
    assert "breast cancer" not in found[0][0] and any(found[0][1]) and len(found[0][0]) == 3
    assert found[0][0][found[0][1].index(True)] == "mammary carcinoma"
    assert found[2] == ([], [])  # lung cancer has no other name: nothing to learn from
    vectors = embed_texts(["breast cancer", "mammary carcinoma"], encoder=encoder, show_progress=False)
    before = float(vectors[0] @ vectors[1])
    seen: list[int] = []
    settings = CandidateSettings(epochs=2, batch_size=2, candidates=3, learning_rate=1e-4)
    history = candidate_align(encoder, queries, dictionary, settings, on_epoch_end=seen.append)
    vectors = embed_texts(["breast cancer", "mammary carcinoma"], encoder=encoder, show_progress=False)
    assert seen == [1, 2] and history.steps == 2 and history.losses[-1] < history.losses[0]
    assert float(vectors[0] @ vectors[1]) > before
    with pytest.raises(ValueError, match="No query to train on"):
        candidate_align(encoder, [("", "D1")], dictionary, settings)
    with pytest.raises(ValueError, match="gold name other than itself"):
        candidate_align(encoder, [("lung cancer", "D008175")], dictionary, settings)
