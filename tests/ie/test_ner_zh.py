"""Chapter 12: vocabulary, split, model save/load and the three commands on a tiny synthetic brat folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from course_utils.ie.brat import read_folder
from course_utils.ie.ner_zh import (
    CharVocab,
    NerError,
    bilstm_padded,
    build_model,
    load_model,
    load_split,
    main,
    make_examples,
    make_split,
    predict_documents,
)
from course_utils.ie.synthetic_zh import synthetic_documents, write_synthetic_folder


def test_char_vocab() -> None:
    vocab = CharVocab.build(["糖尿病", "病变"])
    assert len(vocab) == 2 + 4 and vocab.encode("病X") == [vocab.index["病"], vocab.unk_id]


def test_split_is_document_level_fixed_and_committed() -> None:
    ids = [str(i) for i in range(50)]
    a, b = make_split(ids, seed=3), make_split(ids, seed=3)
    assert a == b and (len(a["train"]), len(a["val"]), len(a["test"])) == (40, 5, 5)
    assert set(a["train"]).isdisjoint(a["test"]) and set(a["val"]).isdisjoint(a["test"])
    split = load_split()
    sizes = tuple(len(split[k]) for k in ("train", "val", "test"))
    assert sizes == (262, 33, 32)
    assert len(set().union(*split.values())) == 327
    with pytest.raises(NerError, match="cannot read split file"):
        load_split("/nonexistent/split.json")


def test_bert_crf_ablation_has_no_lstm_and_two_parameter_groups() -> None:
    model, vocab, meta = build_model("tiny-bert", None, texts=["糖尿病患者"], use_lstm=False, max_length=32)
    assert model.lstm is None and meta["bert_config"]["hidden_size"] == 64
    assert model.linear.in_features == 64 and model.linear.out_features == 31
    enc, head = {id(p) for p in model.encoder_parameters()}, {id(p) for p in model.head_parameters()}
    assert enc and head and enc.isdisjoint(head) and len(enc | head) == len(list(model.parameters()))
    ids = torch.tensor([vocab.encode("糖尿病患者")])
    mask = torch.ones_like(ids, dtype=torch.bool)
    assert model.decode(ids, mask).shape == (1, 5)


def test_commands_train_predict_score_on_a_tiny_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gold = write_synthetic_folder(tmp_path / "gold", synthetic_documents(8, seed=2))
    split = tmp_path / "split.json"
    ids = [p.stem for p in sorted(gold.glob("*.txt"))]
    split.write_text(json.dumps({"train": ids[:6], "val": ids[6:7], "test": ids[7:]}), encoding="utf-8")
    assert main(["train", "--data", str(gold), "--out", str(tmp_path / "model"), "--split", str(split),
                 "--epochs", "2", "--max-length", "48", "--lstm-hidden", "16", "--lr-encoder", "0.01",
                 "--lr-head", "0.01", "--bigram-min-count", "1", "--pretrain-epochs", "1", "--ema-decay", "0.99",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "6 training documents" in out and "best epoch" in out and "skip-gram pretraining" in out
    texts = tmp_path / "texts"
    texts.mkdir()
    for stem in ids:
        (texts / f"{stem}.txt").write_text((gold / f"{stem}.txt").read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["predict", "--model", str(tmp_path / "model"), "--input", str(texts),
                 "--output", str(tmp_path / "pred")]) == 0
    assert len(list((tmp_path / "pred").glob("*.ann"))) == 8
    assert main(["score", "--gold", str(gold), "--pred", str(tmp_path / "pred")]) == 0
    out = capsys.readouterr().out
    assert "micro-F1" in out and "errors:" in out and "Disease" in out
    # a gold folder scored against itself is perfect
    assert main(["score", "--gold", str(gold), "--pred", str(gold)]) == 0
    assert "micro-F1 1.0000  macro-F1 1.0000" in capsys.readouterr().out
    # the saved model predicts what the loaded one predicts
    model, vocab, meta = load_model(tmp_path / "model")
    corpus = read_folder(gold)
    ents, _ = predict_documents(model, vocab, [corpus.documents[0].text], max_length=meta["max_length"])
    ann = (tmp_path / "pred" / f"{corpus.documents[0].doc_id}.ann").read_text(encoding="utf-8")
    assert len(ents[0]) == len([line for line in ann.splitlines() if line])
    examples, stats = make_examples(corpus.documents, vocab, model.tags, max_length=48)
    assert all(len(e.ids) <= 48 for e in examples) and stats.kept > 0
    assert main(["predict", "--model", str(tmp_path / "nomodel"), "--input", str(texts),
                 "--output", str(tmp_path / "p2")]) == 2


def test_exercises_ch12_solutions_pass_and_slips_get_hints() -> None:
    from course_utils.exercises import ch12

    assert ch12.check_log_partition(ch12.log_partition_solution).correct
    assert ch12.check_bio_spans(ch12.bio_spans_solution).correct
    assert ch12.check_span_f1(ch12.span_f1_solution).correct
    assert ch12.check_log_partition(lambda *a: None).status == "not attempted yet"

    def viterbi_score(emissions, start, end, transitions):  # max instead of logsumexp
        best = start + emissions[0]
        for t in range(1, emissions.shape[0]):
            best = (best.unsqueeze(1) + transitions).max(dim=0).values + emissions[t]
        return float((best + end).max())

    fb = ch12.check_log_partition(viterbi_score)
    assert fb.status == "incorrect" and "logsumexp" in fb.message

    def no_flush(tags):  # forgets the entity still open after the last tag
        spans, start, kind = [], -1, ""
        for i, tag in enumerate(tags):
            prefix, _, this = tag.partition("-")
            if start >= 0 and not (prefix == "I" and this == kind):
                spans.append((start, i, kind))
                start = -1
            if prefix == "B" or (prefix == "I" and start < 0):
                start, kind = i, this
        return spans

    assert "last tag" in ch12.check_bio_spans(no_flush).message

    def untyped(gold, pred):
        g, p = {(a, b) for a, b, _ in gold}, {(a, b) for a, b, _ in pred}
        return 2 * len(g & p) / (len(g) + len(p)) if p else 0.0

    assert "wrong type" in ch12.check_span_f1(untyped).message


def test_bilstm_padded_equals_the_packed_lstm_on_every_real_position() -> None:
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 4, batch_first=True, bidirectional=True)
    x = torch.randn(6, 9, 5, requires_grad=True)
    lengths = torch.tensor([9, 3, 7, 9, 1, 5])
    mask = torch.arange(9)[None] < lengths[:, None]
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    reference, _ = torch.nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=9)
    ours = bilstm_padded(lstm, x, mask)
    assert ours.shape == reference.shape and torch.allclose(ours[mask], reference[mask], atol=1e-6)
    (grad_ref,) = torch.autograd.grad(reference[mask].sum(), x)
    (grad_ours,) = torch.autograd.grad(ours[mask].sum(), x)
    assert torch.allclose(grad_ours, grad_ref, atol=1e-6)  # padding receives no gradient either way
    assert float(grad_ours[1, 3:].abs().max()) == 0.0
    with pytest.raises(NerError, match="bidirectional"):
        bilstm_padded(torch.nn.LSTM(5, 4, batch_first=True), x, mask)


def test_bigram_embeddings_look_up_known_bigrams_and_travel_with_the_model(tmp_path: Path) -> None:
    from course_utils.ie.ner_zh import bigram_keys, save_model

    vocab = CharVocab.build(["糖尿病糖尿", "病人"])
    keys = bigram_keys(["糖尿病糖尿", "病人"], vocab, min_count=2)
    assert keys.tolist() == [vocab.encode("糖")[0] * len(vocab) + vocab.encode("尿")[0]]  # only 糖尿 occurs twice
    model, vocab2, meta = build_model("char", vocab, texts=["糖尿病糖尿", "病人"], embedding_dim=8, lstm_hidden=4,
                                      bigram_min_count=2, bigram_dim=3)
    ids = torch.tensor([vocab.encode("糖尿病") + [0], vocab.encode("尿糖尿病")])
    mask = ids != 0
    # 0 padding, 1 unknown bigram (or the last character, whose next one is padding), 2 the known bigram 糖尿
    assert model.bigram_ids(ids, mask).tolist() == [[2, 1, 1, 0], [1, 2, 1, 1]]
    assert model.emissions(ids, mask).shape == (2, 4, len(model.tags)) and meta["bigrams"] == 1
    save_model(tmp_path / "m", model, vocab2, meta)
    loaded, _, _ = load_model(tmp_path / "m")
    assert torch.equal(loaded.bigram_keys, model.bigram_keys)
    model.eval()
    assert torch.allclose(loaded.emissions(ids, mask), model.emissions(ids, mask))


def test_learning_rates_decay_after_every_epoch(tmp_path: Path) -> None:
    from course_utils.ie.ner_zh import TrainConfig, train_ner

    docs = read_folder(write_synthetic_folder(tmp_path / "d", synthetic_documents(3, seed=5))).documents
    model, vocab, _ = build_model("char", None, texts=[d.text for d in docs], embedding_dim=8, lstm_hidden=4)
    examples, _ = make_examples(docs, vocab, model.tags, max_length=32)
    config = TrainConfig(epochs=3, batch_size=16, lr_encoder=0.01, lr_head=0.02, lr_decay=0.5, early_stopping=False)
    result = train_ner(model, examples, examples[:4], config, show_progress=False)
    assert [round(row["lr_head"], 6) for row in result.history] == [0.02, 0.01, 0.005]


def test_weight_average_follows_the_training_weights_and_keeps_the_bigram_keys(tmp_path: Path) -> None:
    from course_utils.ie.ner_zh import TrainConfig, train_ner

    docs = read_folder(write_synthetic_folder(tmp_path / "d", synthetic_documents(3, seed=5))).documents
    texts = [d.text for d in docs]

    def trained(ema: float | None) -> torch.nn.Module:
        torch.manual_seed(0)
        model, vocab, _ = build_model("char", None, texts=texts, embedding_dim=8, lstm_hidden=4, bigram_min_count=1)
        examples, _ = make_examples(docs, vocab, model.tags, max_length=32)
        config = TrainConfig(epochs=2, batch_size=16, lr_encoder=0.01, lr_head=0.02, early_stopping=False,
                             ema_decay=ema)
        train_ner(model, examples, examples[:4], config, show_progress=False)
        return model

    plain, zero, slow = trained(None), trained(0.0), trained(0.9)
    keys = plain.state_dict()
    # decay 0: the average is the last weights, so the run equals plain training
    assert all(torch.allclose(keys[k].float(), v.float()) for k, v in zero.state_dict().items())
    # decay 0.9: other weights, the same integer bigram keys (buffers are not averaged)
    assert not torch.allclose(slow.linear.weight, plain.linear.weight)
    assert torch.equal(slow.bigram_keys, plain.bigram_keys)


def test_pretrained_embeddings_fill_the_tables_reproducibly_and_keep_padding() -> None:
    import random

    from course_utils.ie.ner_zh import pretrain_embeddings

    # 甲 and 乙 always stand between 糖 and 尿, 丙 and 丁 between 血 and 压: skip-gram must put 甲 next to 乙
    rng = random.Random(0)
    filler = "一二三四五六七八九十"
    pieces = []
    for _ in range(400):
        pieces.append(rng.choice(["糖甲尿", "糖乙尿", "血丙压", "血丁压"]) + "".join(rng.choices(filler, k=3)))
    texts = ["".join(pieces)]

    def pretrained():
        torch.manual_seed(0)
        model, vocab, _ = build_model("char", None, texts=texts, embedding_dim=16, lstm_hidden=4,
                                      bigram_min_count=2, bigram_dim=8)
        stats = pretrain_embeddings(model, vocab, texts, epochs=20, window=1, sample=0)
        return model, vocab, stats
    model, vocab, stats = pretrained()
    again, _, _ = pretrained()
    assert torch.equal(model.embedding.weight, again.embedding.weight)  # one worker: reproducible
    assert stats["character_rows"] == len(vocab) - 2 and stats["bigram_rows"] == model.bigram_keys.numel()
    weight = model.embedding.weight.detach()
    assert torch.all(weight[0] == 0)  # padding row untouched
    cos = torch.nn.functional.cosine_similarity
    v = {c: weight[vocab.encode(c)[0]] for c in "甲乙丙丁"}
    assert cos(v["甲"], v["乙"], dim=0) > cos(v["甲"], v["丁"], dim=0) + 0.2
    assert cos(v["丙"], v["丁"], dim=0) > cos(v["乙"], v["丙"], dim=0) + 0.2
    bert, bert_vocab, _ = build_model("tiny-bert", None, texts=texts, max_length=32)
    with pytest.raises(NerError, match="char encoder"):
        pretrain_embeddings(bert, bert_vocab, texts)
