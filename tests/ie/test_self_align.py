"""Online hard-pair mining and the multi-similarity loss, against a direct computation and
pytorch-metric-learning (chapter 14)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

from course_utils.ie.linking.self_align import mine_hard_triplets, multi_similarity_loss, synonym_pairs


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
    from course_utils.ie.linking.data import Vocabulary
    from course_utils.ie.linking.self_align import SelfAlignSettings, dictionary_negatives, self_align
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
    from course_utils.ie.linking.self_align import SelfAlignSettings, self_align
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

    from course_utils.ie.linking.self_align import average_weights

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
    from course_utils.ie.linking.self_align import candidate_loss

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
    from course_utils.ie.linking.data import Vocabulary
    from course_utils.ie.linking.self_align import CandidateSettings, _retrieve_candidates, candidate_align
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


# ------------------------------------------------------------------------------------------------------------
# Pooling and data-parallel self-alignment (torchrun), on a tiny BERT with bert-base-uncased's vocabulary.

PAIRS = ("D000001\tkidney failure\nD000001\trenal failure\nD000001\trenal insufficiency\n"
         "D000002\tbreast cancer\nD000002\tbreast neoplasm\nD000003\theart disease\nD000003\tcardiac disease\n"
         "D000004\tcolon cancer\nD000004\tcolorectal neoplasm\nD000005\tlung cancer\nD000005\tpulmonary neoplasm\n")
N_PAIRS = 6 + 4 * 2  # ordered pairs: 3 names give 6, 2 names give 2


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A 2-layer, 32-wide random BERT with MiniLM's (bert-base-uncased's) tokenizer, dropout off."""
    from transformers import BertConfig, BertModel

    from course_utils.text.pretrained import load_tokenizer

    folder = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    BertModel(config).save_pretrained(folder)
    load_tokenizer("minilm").save_pretrained(folder)
    return folder


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_training_pools_as_scoring_does(tiny_bert):
    from course_utils.ie.linking.self_align import _embed_train
    from course_utils.text.pretrained import embed_texts, load_encoder

    encoder = load_encoder(str(tiny_bert), device="cpu")
    texts = ["kidney failure", "renal insufficiency of the left kidney"]
    for pooling in ("cls", "mean"):
        with torch.no_grad():
            trained = torch.nn.functional.normalize(_embed_train(*encoder, texts, 25, pooling), dim=1).numpy()
        scored = embed_texts(texts, encoder=encoder, max_length=25, pooling=pooling, show_progress=False)
        np.testing.assert_allclose(trained, scored, atol=1e-5)
    with torch.no_grad():
        cls = _embed_train(*encoder, texts, 25, "cls")
        mean = _embed_train(*encoder, texts, 25, "mean")
    assert not torch.allclose(cls, mean)  # the two poolings are different vectors


def test_settings_refuse_an_unknown_pooling_or_optimizer():
    from course_utils.ie.linking.data import LinkingDataError
    from course_utils.ie.linking.self_align import SelfAlignSettings

    with pytest.raises(LinkingDataError, match="pooling must be one of"):
        SelfAlignSettings(pooling="max")
    with pytest.raises(LinkingDataError, match="'adamw' or 'sgd'"):
        SelfAlignSettings(optimizer="lamb")
    with pytest.raises(LinkingDataError, match="max_steps"):
        SelfAlignSettings(max_steps=0)


def test_max_steps_stops_training_and_the_record_keeps_the_pooling(tiny_bert, tmp_path):
    from course_utils.ie.linking.linkers import model_pooling
    from course_utils.ie.linking.self_align import SelfAlignSettings, save_encoder, saved_pooling, self_align
    from course_utils.text.pretrained import load_encoder

    encoder = load_encoder(str(tiny_bert), device="cpu")
    rows = [tuple(line.split("\t")[::-1]) for line in PAIRS.splitlines()]
    history = self_align(encoder, rows, SelfAlignSettings(epochs=3, batch_size=2, pooling="cls", max_steps=4))
    assert history.steps == 4  # 3 epochs of 7 batches, stopped after 4
    out = save_encoder(encoder, tmp_path / "aligned", pooling="cls", details={"steps": history.steps})
    assert saved_pooling(out) == "cls" == model_pooling(str(out))
    assert saved_pooling(tiny_bert) is None


def test_two_processes_with_b_pairs_each_take_the_step_of_one_process_with_2b(tiny_bert, tmp_path, monkeypatch):
    """torchrun --standalone --nproc_per_node 2 (gloo, CPU): the run completes, and its one SGD step equals one
    step of one process on the whole batch. Mining and the loss see the gathered global batch; all_gather's
    backward and DDP's averaging together give the single-process gradient (a factor of 2 off would show:
    SGD's step is proportional to the gradient, unlike Adam's first step)."""
    import os
    import subprocess
    import sys

    from course_utils.ie.linking.linkers import main

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(PAIRS)
    # SGD without weight decay: the step is -lr x gradient, so comparing weights compares gradients
    common = ["--pairs", str(pairs), "--model", str(tiny_bert), "--pooling", "cls", "--max-steps", "1",
              "--optimizer", "sgd", "--learning-rate", "1000", "--weight-decay", "0", "--device", "cpu"]
    env = {**os.environ, "COURSE_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "course_utils.ie.linking", "train", *common, "--out", str(tmp_path / "two"),
                          "--batch-size", str(N_PAIRS)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "trained 1 steps on 2 process(es)" in run.stdout
    record = json.loads((tmp_path / "two" / "course_encoder.json").read_text())
    assert record["pooling"] == "cls" and record["processes"] == 2 and record["steps"] == 1

    assert main(["train", *common, "--out", str(tmp_path / "one"), "--batch-size", str(N_PAIRS)]) == 0
    assert main(["train", *common, "--out", str(tmp_path / "half"), "--batch-size", str(N_PAIRS // 2)]) == 0
    start, one, two, half = (_weights(f) for f in (tiny_bert, tmp_path / "one", tmp_path / "two", tmp_path / "half"))
    step = {k: one[k] - start[k] for k in one}
    moved = max(v.abs().max().item() for v in step.values())
    assert moved > 1e-3  # the step moved the weights
    for name in one:  # equal to float precision (shares are padded differently: sums in another order)
        torch.testing.assert_close(two[name] - start[name], step[name], rtol=0, atol=1e-4 * moved)
    # a step on one process's half of the batch is a different step: the test can tell them apart
    assert max((half[k] - one[k]).abs().max().item() for k in one) > 0.1 * moved
    # The small difference is only padding: one process that embeds the batch in the same two shares (each padded
    # to its own longest name) and puts them back in order takes exactly the two processes' step.
    import course_utils.ie.linking.self_align as self_align_module

    whole = self_align_module._embed_train

    def in_two_shares(tokenizer, model, texts, max_length, pooling="mean"):
        index = torch.arange(len(texts))
        shares = [whole(tokenizer, model, texts[r::2], max_length, pooling) for r in (0, 1)]
        return torch.cat(shares)[torch.argsort(torch.cat([index[0::2], index[1::2]]))]

    monkeypatch.setattr(self_align_module, "_embed_train", in_two_shares)
    assert main(["train", *common, "--out", str(tmp_path / "shares"), "--batch-size", str(N_PAIRS)]) == 0
    shares = _weights(tmp_path / "shares")
    for name in one:
        torch.testing.assert_close(two[name], shares[name], rtol=0, atol=1e-7 * moved)


def test_synonym_pairs_ordered_as_the_course_unordered_as_sapbert():
    import itertools

    rows = [(n, "C1") for n in "abcd"] + [(n, "C2") for n in "xy"] + [("solo", "C3")]
    ordered = synonym_pairs(rows)
    unordered = synonym_pairs(rows, ordered=False)
    assert len(ordered) == 4 * 3 + 2 * 1 and len(unordered) == 6 + 1  # n(n-1) against n(n-1)/2
    assert {(a, b) for a, b, c in unordered if c == "C1"} == set(itertools.combinations("abcd", 2))
    assert {frozenset((a, b)) for a, b, _ in ordered} == {frozenset((a, b)) for a, b, _ in unordered}
    # the cap: 12 names give 132 ordered and 66 unordered pairs; 50 of each are kept
    many = [(f"name {i}", "C9") for i in range(12)]
    capped_o, capped_u = synonym_pairs(many), synonym_pairs(many, ordered=False)
    assert len(capped_o) == len(capped_u) == 50
    assert len({frozenset((a, b)) for a, b, _ in capped_u}) == 50  # 50 distinct pairs, as SapBERT
    assert len({frozenset((a, b)) for a, b, _ in capped_o}) == 39  # seed 1234: 11 of the 50 drawn both ways
