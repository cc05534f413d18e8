"""Chapter 13: relation models on synthetic abstracts beat the type-pair rule; the commands on a tiny file."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.ie.biored import TypePairRule, labelled_pairs, read_pubtator, relation_scores, write_pubtator
from course_utils.ie.relations import ENCODERS, load_classifier, main, predict_relations, train_relations
from course_utils.ie.synthetic_biored import synthetic_biored


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
