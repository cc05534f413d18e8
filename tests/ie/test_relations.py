"""Chapter 13: relation models on synthetic abstracts beat the type-pair rule; the commands on a tiny file."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.ie.biored import TypePairRule, labelled_pairs, read_pubtator, relation_scores, write_pubtator
from course_utils.ie.relations.models import (
    ENCODERS,
    load_classifier,
    main,
    predict_relations,
    save_classifier,
    train_relations,
)
from course_utils.ie.relations.synthetic import synthetic_biored


@pytest.fixture(scope="module")
def split():
    return synthetic_biored(160, 60, seed=1234)


def test_synthetic_documents_are_consistent(split, tmp_path: Path) -> None:
    for doc in split.train[:20]:
        assert all(doc.text[m.start:m.end] == m.text for m in doc.mentions)
    again = read_pubtator(write_pubtator(split.train, tmp_path / "syn.PubTator")).documents
    assert again == split.train


@pytest.mark.parametrize("kind", ENCODERS)
def test_each_model_beats_the_type_pair_rule_by_0_2_f1(split, kind: str) -> None:
    import torch

    torch.set_num_threads(1)
    train_pairs = [p for d in split.train for p in labelled_pairs(d)]
    test_pairs = [p for d in split.test for p in labelled_pairs(d)]
    rule_f1 = max(relation_scores(test_pairs, TypePairRule(include_none=flag).fit(train_pairs).predict(test_pairs))
                  .micro_f1 for flag in (True, False))
    clf = train_relations(split.train, kind=kind, epochs=8, seed=1234)
    f1 = relation_scores(test_pairs, predict_relations(clf, split.test)).micro_f1
    assert rule_f1 < 0.3
    assert f1 >= rule_f1 + 0.2, (kind, f1, rule_f1)


def test_commands_on_a_tiny_file(split, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = write_pubtator(split.test[:6], tmp_path / "gold.PubTator")
    train = write_pubtator(split.train[:12], tmp_path / "train.PubTator")
    assert main(["train", "--train", str(train), "--model", "rnn", "--epochs", "1", "--out", str(tmp_path / "m")]) == 0
    assert load_classifier(tmp_path / "m").labels[0] == "None"
    assert main(["predict", "--model-dir", str(tmp_path / "m"), "--input", str(gold),
                 "--out", str(tmp_path / "pred.PubTator")]) == 0
    assert len(read_pubtator(tmp_path / "pred.PubTator").documents) == 6
    assert main(["score", "--gold", str(gold), "--pred", str(gold)]) == 0
    out = capsys.readouterr().out
    assert "abstracts/s" in out and "pair_type_novelty\tP=1.000\tR=1.000\tF1=1.000" in out
    assert main(["predict", "--model-dir", str(tmp_path / "none"), "--input", str(gold), "--out", "x"]) == 2


def test_related_only_restricts_the_argmax_to_the_relation_types(split) -> None:
    """The seed's 8-way setting: never None; where the 9-way output names a type, the same type."""
    import torch

    torch.set_num_threads(1)
    clf = train_relations(split.train[:12], kind="rnn", epochs=1, seed=5, show_progress=False)
    nine = predict_relations(clf, split.test[:8])
    eight = predict_relations(clf, split.test[:8], related_only=True)
    assert [(p.doc_id, p.id1, p.id2) for p in nine] == [(p.doc_id, p.id1, p.id2) for p in eight]
    assert all(p.relation != "None" and p.relation in clf.labels for p in eight)
    assert all(a.relation == b.relation for a, b in zip(nine, eight) if a.relation != "None")
    assert sum(p.relation == "None" for p in nine) > 0  # after one epoch most pairs are None: the cases differ


# ---------------------------------------------------------------------------------------------- pretrained kind


def test_window_starts_cover_every_token_with_the_stride_as_overlap() -> None:
    from course_utils.ie.relations.models import RelationModelError, window_starts

    assert window_starts(10, 16, 4) == [0]
    starts = window_starts(100, 30, 10)
    assert starts[0] == 0 and starts[-1] == 70
    assert all(b - a <= 20 for a, b in zip(starts, starts[1:]))  # neighbours share at least 10 tokens
    assert set(range(100)) == {i for s in starts for i in range(s, s + 30)}
    with pytest.raises(RelationModelError):
        window_starts(100, 30, 30)


@pytest.fixture(scope="module")
def pretrained_clf(split):
    import torch

    torch.set_num_threads(1)
    return train_relations(split.train[:16], kind="pretrained", model="minilm", epochs=1, batch_size=4,
                           max_length=48, stride=16, encoder_layers=2, seed=1234, device="cpu", show_progress=False)


def test_pretrained_markers_are_added_tokens_read_from_one_window(split, pretrained_clf) -> None:
    from course_utils.ie.relations.models import marker_token

    clf = pretrained_clf
    tok = clf.tokenizer
    assert clf.kind == "pretrained" and clf.max_length == 48 and clf.encoder == "minilm"
    assert marker_token("ChemicalEntity") in clf.markers
    assert clf.net.encoder.get_input_embeddings().num_embeddings == len(tok)
    marker_ids = set(tok.convert_tokens_to_ids(clf.markers))
    assert all(i >= 30522 for i in marker_ids)  # new rows, not pieces of MiniLM's vocabulary
    encoded = clf.encode(split.test[:3])
    assert any(len(e.token_ids) > 46 for e in encoded)  # longer than one window: split
    for e in encoded:
        n_markers = sum(t in marker_ids for t in e.token_ids)
        assert n_markers == len(e.doc.mentions)
        assert {p for pos in e.positions for p in pos} == {i for i, t in enumerate(e.token_ids) if t in marker_ids}
    inputs, mask, ent, weights, pairs = clf._inputs(encoded)
    assert inputs.shape[1] <= 48 and inputs.shape[0] > len(encoded)
    flat = inputs.reshape(-1)
    assert all(int(flat[i]) in marker_ids for i in ent[:, 1])  # every entity state is read at a marker
    assert len(ent) == sum(len(pos) for e in encoded for pos in e.positions)  # one window per marker
    assert len(pairs) == sum(len(e.pairs) for e in encoded)


def test_pretrained_round_trips_with_identical_predictions(split, pretrained_clf, tmp_path: Path) -> None:
    import torch

    from course_utils.ie.relations.models import save_classifier

    clf = pretrained_clf
    save_classifier(clf, tmp_path / "pre")
    assert {p.name for p in (tmp_path / "pre").iterdir()} == {"config.json", "heads.pt", "encoder"}
    assert not list(tmp_path.glob(".pre.tmp-*"))
    again = load_classifier(tmp_path / "pre", device="cpu")
    assert again.labels == clf.labels and again.markers == clf.markers and again.max_length == 48
    assert len(again.net.encoder.encoder.layer) == 2  # encoder_layers=2 kept MiniLM's first two of six
    docs = split.test[:8]
    assert predict_relations(again, docs) == predict_relations(clf, docs)
    batch = clf.encode(docs)
    with torch.no_grad():
        a = clf.net(*clf._inputs(batch))
        b = again.net(*again._inputs(batch))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_pretrained_minilm_beats_the_type_pair_rule_by_0_2_f1(split) -> None:
    """MiniLM cut to its first two layers (the smoke setting): about 0.90 F1 against the rule's 0.17."""
    import torch

    torch.set_num_threads(1)
    train_pairs = [p for d in split.train for p in labelled_pairs(d)]
    test_pairs = [p for d in split.test for p in labelled_pairs(d)]
    rule_f1 = max(relation_scores(test_pairs, TypePairRule(include_none=flag).fit(train_pairs).predict(test_pairs))
                  .micro_f1 for flag in (True, False))
    clf = train_relations(split.train, kind="pretrained", epochs=3, batch_size=4, encoder_lr=2e-4, encoder_layers=2,
                          seed=1234, device="cpu", show_progress=False)
    f1 = relation_scores(test_pairs, predict_relations(clf, split.test)).micro_f1
    assert f1 >= rule_f1 + 0.2, (f1, rule_f1)


def test_pretrained_kind_through_the_command(split, tmp_path: Path) -> None:
    train = write_pubtator(split.train[:6], tmp_path / "train.PubTator")
    assert main(["train", "--train", str(train), "--model", "pretrained", "--encoder", "minilm", "--epochs", "1",
                 "--out", str(tmp_path / "m")]) == 0
    assert load_classifier(tmp_path / "m", device="cpu").kind == "pretrained"


def test_the_transformer_reads_documents_longer_than_its_position_table():
    import torch

    from course_utils.ie.relations.relation_classifier import _Net

    net = _Net("transformer", 50, 3, 16, None).eval()
    n = 700  # longer than the 512 learned positions (11 BioRED Train abstracts are, once markers are added)
    inputs = torch.randint(1, 50, (1, n))
    mask = torch.ones(1, n, dtype=torch.bool)
    ent_index = torch.tensor([[0, 3], [1, 650]])  # (entity, flat token position)
    ent_weight = torch.tensor([1.0, 1.0])
    pair_index = torch.tensor([[0, 1]])
    with torch.no_grad():
        rel, nov = net(inputs, mask, ent_index, ent_weight, pair_index)
    assert rel.shape == (1, 3) and nov.shape == (1, 2) and torch.isfinite(rel).all()



_COMMAND = ["-m", "course_utils.ie.relations"]


def _torchrun(nproc: int = 2) -> list[str]:
    import sys

    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]


def _run(cmd: list[str], cwd: Path) -> str:
    import os
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COURSE_DEVICE": "cpu"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_lstm_states_do_not_depend_on_the_padding_of_the_batch(split) -> None:
    """Packed sequences: a document's relation logits are the same alone and beside a longer document."""
    import torch

    clf = train_relations(split.train[:8], kind="lstm", epochs=1, seed=3, show_progress=False)
    encoded = clf.encode(split.test[:6])
    short = min(encoded, key=lambda e: len(e.tokens))
    long = max(encoded, key=lambda e: len(e.tokens))
    assert len(long.tokens) > len(short.tokens)
    with torch.no_grad():
        alone = clf.net(*clf._inputs([short]))[0]
        beside = clf.net(*clf._inputs([short, long]))[0][: len(short.pairs)]
    torch.testing.assert_close(alone, beside, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_one_step_on_two_processes_equals_one_step_with_their_batches_together(split, tmp_path: Path,
                                                                                 kind: str) -> None:
    """torchrun, 2 gloo processes x 4 documents == 1 process x 8 documents, after one AdamW step (dropout 0)."""
    import sys

    import torch

    data = write_pubtator(split.train[:8], tmp_path / "eight.PubTator")
    common = ["train", "--train", str(data), "--model", kind, "--epochs", "1", "--batch-size", "8",
              "--dropout", "0", "--seed", "7", "--quiet"]
    two_out = _run([*_torchrun(2), *_COMMAND, *common, "--out", str(tmp_path / "two")], tmp_path)
    one_out = _run([sys.executable, *_COMMAND, *common, "--out", str(tmp_path / "one")], tmp_path)
    assert f"trained {kind} on 2 processes" in two_out and " on 2 processes" not in one_out
    two = torch.load(tmp_path / "two" / "weights.pt", weights_only=True)
    one = torch.load(tmp_path / "one" / "weights.pt", weights_only=True)
    initial = train_relations(split.train[:8], kind=kind, epochs=1, batch_size=8, seed=7, dropout=0.0, lr=0.0,
                              device="cpu", show_progress=False).net.state_dict()
    assert one.keys() == two.keys() == initial.keys()
    moved = 0
    for name, value in one.items():
        a, b = two[name], value
        if name.endswith("self_attn.in_proj_bias"):
            # The key bias adds the same number to every score of a query, which the softmax removes: its true
            # gradient is 0, its computed one rounding noise that AdamW's first step scales up to about lr.
            # Compare the query and value biases only.
            third = len(b) // 3
            a, b = torch.cat([a[:third], a[2 * third:]]), torch.cat([b[:third], b[2 * third:]])
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
        moved += int(not torch.equal(value, initial[name]))
    assert moved >= len(one) // 2, (moved, len(one))  # the step moved the weights: not two untrained models


def test_the_two_process_run_completes_and_its_model_predicts(split, tmp_path: Path) -> None:
    """A two-epoch torchrun training on tiny data: rank 0 alone prints and writes the model, which then predicts."""
    data = write_pubtator(split.train[:12], tmp_path / "train.PubTator")
    test = write_pubtator(split.test[:4], tmp_path / "test.PubTator")
    out = _run([*_torchrun(2), *_COMMAND, "train", "--train", str(data), "--epochs", "2", "--batch-size", "5",
                "--quiet", "--out", str(tmp_path / "model")], tmp_path)
    assert out.count("trained lstm on 2 processes") == 1, out
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["config.json", "weights.pt"]
    assert main(["predict", "--model-dir", str(tmp_path / "model"), "--input", str(test), "--out",
                 str(tmp_path / "pred.PubTator"), "--device", "cpu"]) == 0
    assert len(read_pubtator(tmp_path / "pred.PubTator").documents) == 4


def test_pretrained_kind_on_the_lab_model_by_manifest_name(split, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Lab path: kind="pretrained", model="biomedbert" loads the staged manifest folder (config.json, vocab.txt,
    pytorch_model.bin; no tokenizer files) through course_utils.text.pretrained; the marker tokens survive save and
    load, and the loaded classifier predicts what the trained one did."""
    from tests.ie.test_ner_biored import _stand_in_biomedbert

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _stand_in_biomedbert(tmp_path / "data")
    clf = train_relations(split.train[:6], kind="pretrained", model="biomedbert", epochs=1, batch_size=3,
                          max_length=64, stride=16, device="cpu", show_progress=False)
    assert clf.encoder == "biomedbert" and clf.tokenizer.tokenize("BRCA1") == clf.tokenizer.tokenize("brca1")
    marker = clf.markers[0]
    assert clf.tokenizer.tokenize(f"a {marker} b") == ["a", marker, "b"]
    before = predict_relations(clf, split.test[:3])
    again = load_classifier(save_classifier(clf, tmp_path / "model"), device="cpu")
    assert again.tokenizer.tokenize(f"a {marker} b") == ["a", marker, "b"]
    assert predict_relations(again, split.test[:3]) == before
