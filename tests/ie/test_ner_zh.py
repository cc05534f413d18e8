"""Chapter 12: vocabulary, split, model save/load and the three commands on a tiny synthetic brat folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from course_utils.ie.brat import read_folder
from course_utils.ie.ner.synthetic import synthetic_documents, write_synthetic_folder
from course_utils.ie.ner.tagger import (
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
    from course_utils.ie.brat import parse_ann

    ann = (tmp_path / "pred" / f"{corpus.documents[0].doc_id}.ann").read_text(encoding="utf-8")
    written, problems = parse_ann(ann, corpus.documents[0].text)
    assert problems == [] and {(e.type, e.spans) for e in written} == {(e.type, e.spans) for e in ents[0]}
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
    from course_utils.ie.ner.tagger import bigram_keys, save_model

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
    from course_utils.ie.ner.tagger import TrainConfig, train_ner

    docs = read_folder(write_synthetic_folder(tmp_path / "d", synthetic_documents(3, seed=5))).documents
    model, vocab, _ = build_model("char", None, texts=[d.text for d in docs], embedding_dim=8, lstm_hidden=4)
    examples, _ = make_examples(docs, vocab, model.tags, max_length=32)
    config = TrainConfig(epochs=3, batch_size=16, lr_encoder=0.01, lr_head=0.02, lr_decay=0.5, early_stopping=False)
    result = train_ner(model, examples, examples[:4], config, show_progress=False)
    assert [round(row["lr_head"], 6) for row in result.history] == [0.02, 0.01, 0.005]


def test_weight_average_follows_the_training_weights_and_keeps_the_bigram_keys(tmp_path: Path) -> None:
    from course_utils.ie.ner.tagger import TrainConfig, train_ner

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

    from course_utils.ie.ner.tagger import pretrain_embeddings

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


# ------------------------------------------------------------------ the lab path: a real (tiny) BERT folder

SPECIALS = ["[PAD]", "[unused1]", "[unused2]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _bert_folder(folder: Path, chars: str, *, lowercase: bool = False) -> Path:
    """Write a tiny random BERT (hidden 32, 2 layers) with a Chinese character WordPiece vocabulary, as
    bert-base-chinese's files: config.json, model.safetensors, vocab.txt, tokenizer.json, tokenizer_config.json."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    tokens = SPECIALS + sorted(set(chars) - set(SPECIALS)) + [f"##{c}" for c in "0123456789"]
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokens), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(str(folder))
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(str(folder), do_lower_case=lowercase, local_files_only=True)
    assert len(tokenizer.get_vocab()) == len(tokens)
    tokenizer.save_pretrained(str(folder))
    for extra in ("special_tokens_map.json",):  # only the files bert-base-chinese's manifest lists
        (folder / extra).unlink(missing_ok=True)
    return folder


def test_bert_vocabulary_gives_each_character_the_tokenizers_id() -> None:
    """CharVocab.from_tokenizer: per character what the BERT tokenizer gives it alone; whitespace -> [unused1]."""
    import tempfile

    from transformers import AutoTokenizer

    probe = ("糖尿病患者血压高" "Aa" "Bb" "Zé" "É" "İ" "ß" "Ａａ１（" "αΩ" "1" "%" ".")
    odd = " \t\u00a0\u3000\u200b\ufeff\x07\ue000\ufffd\u0301😀〇"
    for lowercase in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            folder = _bert_folder(Path(tmp) / "bert", "糖尿病患者血压abeiszαω1%.ａ（", lowercase=lowercase)
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        vocab = CharVocab.from_tokenizer(tokenizer, [probe])  # checked on the characters of the text
        assert vocab.overrides == {}  # the per-character rules agree with the tokenizer on every one
        fresh = CharVocab.from_tokenizer(tokenizer)  # the rules alone, on characters never seen when built
        space = tokenizer.convert_tokens_to_ids("[unused1]")
        assert vocab.space_id == space and vocab.cls_id == tokenizer.cls_token_id
        for c in probe + odd:
            ids = tokenizer(c, add_special_tokens=False)["input_ids"]
            expected = ids[0] if ids else space
            assert fresh.encode(c) == [expected], (lowercase, repr(c))
        assert vocab.encode("糖 尿") == [tokenizer.convert_tokens_to_ids(c) for c in "糖"] + [space] + \
            [tokenizer.convert_tokens_to_ids("尿")]
        upper = vocab.encode("A")[0]
        assert (upper == tokenizer.unk_token_id) != lowercase  # cased tokenizer: A is [UNK]; uncased: a
        # full-width forms are not folded to ASCII (no NFKC), only lower-cased: Ａ is ａ's token when uncased
        assert (vocab.encode("Ａ")[0] == tokenizer.unk_token_id) != lowercase
        assert vocab.encode("ａ")[0] != tokenizer.unk_token_id and vocab.encode("１")[0] == tokenizer.unk_token_id


def test_uncased_vocabulary_is_read_from_the_vocabulary() -> None:
    from course_utils.ie.ner.tagger import uncased_vocabulary

    lower = {c: i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}
    assert uncased_vocabulary(lower) and not uncased_vocabulary({**lower, "A": 99})
    assert not uncased_vocabulary({"a": 0})


def _staged_bert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chars: str) -> str:
    """Stage a tiny BERT as the course's bert_base_chinese into a fresh COURSE_DATA_DIR; return its name."""
    from course_utils.data import stage

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    stage("bert_base_chinese", _bert_folder(tmp_path / "stand-in", chars), root=data_dir, show_progress=False)
    return "bert_base_chinese"


def test_lab_path_bert_folder_trains_saves_loads_and_predicts_the_same(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab profile's encoder (bert_base_chinese by manifest) with a tiny random stand-in: [CLS]/[SEP] reach
    BERT, a space is [unused1] not [UNK], one epoch trains, and the saved model predicts what the trained one did."""
    from course_utils.ie.ner.tagger import TrainConfig, save_model, train_ner

    docs = list(read_folder(write_synthetic_folder(tmp_path / "d", synthetic_documents(4, seed=3))).documents)
    texts = [d.text for d in docs]
    text_with_space = docs[0].text[:10] + " " + docs[0].text[10:40]
    chars = "".join(sorted({c for t in texts for c in t if not c.isspace()}))
    name = _staged_bert(tmp_path, monkeypatch, chars)
    model, vocab, meta = build_model(name, None, texts=texts, max_length=48, lstm_hidden=8)
    assert model.bert is not None and model.bert.config.hidden_size == 32
    assert meta["encoder_folder"] == str(tmp_path / "data" / "bert_base_chinese")
    unk, space = vocab.unk_id, vocab.index["[unused1]"]
    assert vocab.space_id == space and vocab.encode(" ") == [space] and unk not in vocab.encode(text_with_space)

    seen: list[torch.Tensor] = []
    hook = model.bert.register_forward_pre_hook(lambda mod, args, kwargs: seen.append(kwargs["input_ids"].clone()),
                                                with_kwargs=True)
    ids = torch.tensor([vocab.encode("糖尿病 患者") + [0], vocab.encode("血糖高") + [0] * 4])
    mask = torch.arange(7)[None] < torch.tensor([[6], [3]])
    emissions = model.eval().emissions(ids, mask)
    hook.remove()
    cls, sep, pad = vocab.index["[CLS]"], vocab.index["[SEP]"], vocab.index["[PAD]"]
    assert emissions.shape == (2, 7, len(model.tags))
    assert seen[0].tolist() == [[cls, *vocab.encode("糖尿病 患者"), sep, pad],
                                [cls, *vocab.encode("血糖高"), sep, pad, pad, pad, pad]]

    examples, _ = make_examples(docs, vocab, model.tags, max_length=48)
    result = train_ner(model, examples, examples[:4], TrainConfig(epochs=1, batch_size=8, lr_encoder=1e-3,
                                                                  lr_head=1e-2), show_progress=False)
    assert len(result.history) == 1 and result.history[0]["loss"] > 0
    before, tags_before = predict_documents(model, vocab, texts + [text_with_space], max_length=48)
    save_model(tmp_path / "model", model.cpu(), vocab, meta)
    loaded, loaded_vocab, loaded_meta = load_model(tmp_path / "model")
    assert loaded_vocab == vocab and (loaded.cls_id, loaded.sep_id) == (cls, sep)
    after, tags_after = predict_documents(loaded, loaded_vocab, texts + [text_with_space], max_length=48)
    assert tags_after == tags_before
    assert [{(e.type, e.spans) for e in ents} for ents in after] == [{(e.type, e.spans) for e in ents}
                                                                   for ents in before]
    model.eval()
    torch.testing.assert_close(loaded.emissions(ids, mask), model.emissions(ids, mask))
    # the commands take the same manifest name
    with pytest.raises(NerError, match="positions"):
        build_model(name, None, texts=texts, max_length=127)


def test_a_hub_id_is_never_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from course_utils.errors import CourseError

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(CourseError):
        build_model("google-bert/bert-base-chinese", None, texts=["糖尿病"])


# ------------------------------------------------------------------ several processes: torchrun, gloo on CPU


def test_torchrun_two_processes_take_the_same_step_as_one(tmp_path: Path) -> None:
    """`torchrun --standalone --nproc_per_node 2 -m course_utils.ie.ner.tagger train` completes on CPU (gloo), and its
    one step, each process on half the global batch, leaves the weights of one process on the whole batch."""
    import os
    import subprocess
    import sys

    gold = write_synthetic_folder(tmp_path / "gold", synthetic_documents(6, seed=4))
    ids = [p.stem for p in sorted(gold.glob("*.txt"))]
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ids[:5], "val": ids[5:], "test": []}), encoding="utf-8")
    # one global batch holding every chunk: exactly one optimiser step; no dropout, so both runs see the same net
    common = ["train", "--data", str(gold), "--split", str(split), "--epochs", "1", "--batch-size", "1000",
              "--max-length", "48", "--lstm-hidden", "8", "--dropout", "0", "--lr-encoder", "0.01",
              "--lr-head", "0.01", "--device", "cpu", "--threads", "1", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COURSE_DEVICE": "cpu", "PYTHONWARNINGS": "ignore"}
    env.pop("WORLD_SIZE", None)
    one = subprocess.run([sys.executable, "-m", "course_utils.ie.ner.tagger", *common, "--out", str(tmp_path / "one")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "course_utils.ie.ner.tagger", *common, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "data parallel: 2 processes on cpu" in two.stdout and two.stdout.count("model written to") == 1
    single, _, meta_one = load_model(tmp_path / "one")
    double, _, meta_two = load_model(tmp_path / "two")
    assert (meta_one["processes"], meta_two["processes"]) == (1, 2)
    from course_utils.ie.linebreaks import remove_line_breaks
    from course_utils.seeding import seed_everything

    seed_everything(1234)  # the command's initial weights (its --seed)
    texts = [remove_line_breaks(d.text)[0] for d in read_folder(gold).subset(ids[:5]).documents]
    start, _, _ = build_model("char", None, texts=texts, max_length=48, lstm_hidden=8, dropout=0.0,
                              types=[t[2:] for t in single.tags[1::2]])
    initial = start.state_dict()
    reference = single.state_dict()
    for name, value in double.state_dict().items():
        assert not torch.equal(reference[name], initial[name]), name  # the step moved every weight
        torch.testing.assert_close(value, reference[name], rtol=1e-4, atol=2e-6, msg=name)
    assert meta_one["history"][0]["loss"] == pytest.approx(meta_two["history"][0]["loss"], rel=1e-5)


def test_commands_refuse_bad_input_with_a_reason(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Reader problems stop `train` and `score` (rc 2, counted by kind, file:line for open data) unless
    --allow-problems; a missing or empty prediction folder and a damaged model folder are errors, not F1 0."""
    gold = write_synthetic_folder(tmp_path / "gold", synthetic_documents(3, seed=6))
    bad = tmp_path / "bad"
    bad.mkdir()
    for path in gold.iterdir():
        (bad / path.name).write_bytes(path.read_bytes())
    first = sorted(bad.glob("*.ann"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "T99\tDrug x y\tbroken\n", encoding="utf-8")
    (bad / "extra.txt").write_text("没有标注。", encoding="utf-8")
    args = ["--epochs", "1", "--max-length", "32", "--lstm-hidden", "4", "--quiet", "--device", "cpu"]
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "m"), *args]) == 2
    err = capsys.readouterr().err
    assert "1 malformed" in err and "1 missing-ann" in err and f"{first}:" in err and "--allow-problems" in err
    assert not (tmp_path / "m").exists()
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "m"), "--allow-problems", *args]) == 0
    capsys.readouterr()
    assert main(["score", "--gold", str(gold), "--pred", str(tmp_path / "typo")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["score", "--gold", str(gold), "--pred", str(tmp_path / "empty")]) == 2
    assert "no .ann file for any" in capsys.readouterr().err
    assert main(["score", "--gold", str(bad), "--pred", str(gold)]) == 2
    assert main(["score", "--gold", str(gold), "--pred", str(bad)]) == 2
    assert f"{first}:" in capsys.readouterr().err
    assert main(["score", "--gold", str(gold), "--pred", str(bad), "--allow-problems"]) == 0
    assert "1 prediction lines could not be read" in capsys.readouterr().err
    (tmp_path / "m" / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(NerError, match="damaged"):
        load_model(tmp_path / "m")


def test_rehearsal_size_knobs_keep_the_first_documents_of_each_split(tmp_path: Path) -> None:
    import dataclasses

    from course_utils.ie.ner.tagger import chapter_data
    from course_utils.profiles import chapter_settings

    smoke = dataclasses.replace(chapter_settings(12, "smoke"), n_documents=8)
    full = chapter_data(smoke, tmp_path)
    capped = chapter_data(dataclasses.replace(smoke, max_documents=3, max_eval_documents=1), tmp_path)
    assert (len(full.train), len(full.val), len(full.test)) == (8, 2, 4)
    assert [d.doc_id for d in capped.train] == [d.doc_id for d in full.train[:3]]
    assert (len(capped.val), len(capped.test)) == (1, 1) and capped.test[0].doc_id == full.test[0].doc_id
