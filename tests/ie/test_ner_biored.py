"""Chapter 13 NER: word-piece offsets and windows, entity scores by hand, the dictionary baseline, entity ids,
MiniLM trained on synthetic abstracts, save/load and the three commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.ie.biored import BioDocument, EntityMention, read_pubtator, write_pubtator
from course_utils.ie.relations.ner import (
    SMOKE_TRAINING,
    DictionaryTagger,
    IdDictionary,
    NerBioredError,
    decode_windows,
    encode_documents,
    entity_scores,
    load_ner,
    main,
    normalise_surface,
    predict_mentions,
    save_ner,
    throughput,
    train_ner,
    unseen_entity_scores,
)
from course_utils.ie.relations.synthetic import synthetic_biored
from course_utils.text.pretrained import load_tokenizer

ROOT = Path(__file__).resolve().parents[2]


def _doc(doc_id: str, title: str, abstract: str, marked: list[tuple[str, str, int]]) -> BioDocument:
    """Return a document whose mentions are the ``occurrence``-th copies of ``surface`` in its text."""
    text = f"{title} {abstract}"
    mentions = []
    for surface, etype, occurrence in marked:
        start = -1
        for _ in range(occurrence + 1):
            start = text.index(surface, start + 1)
        mentions.append(EntityMention(start, start + len(surface), surface, etype, (f"id:{surface.lower()}",)))
    return BioDocument(doc_id, title, abstract, tuple(sorted(mentions, key=lambda m: m.start)))


ODD_TITLE = "α-Synuclein  and IL-6 in Müller's   glia (β2-microglobulin)."
ODD_ABSTRACT = ("Patients with Parkinson  disease,breast cancer;and TNF-α were seen.  rs113488022 (V600E) in "
                "HeLa cells; 5-HT  levels fell in Mus musculus.")
ODD_MARKS = [("α-Synuclein", "GeneOrGeneProduct", 0), ("IL-6", "GeneOrGeneProduct", 0),
             ("β2-microglobulin", "GeneOrGeneProduct", 0), ("Patients", "OrganismTaxon", 0),
             ("Parkinson  disease", "DiseaseOrPhenotypicFeature", 0), ("breast cancer", "DiseaseOrPhenotypicFeature", 0),
             ("TNF-α", "GeneOrGeneProduct", 0), ("rs113488022", "SequenceVariant", 0), ("V600E", "SequenceVariant", 0),
             ("HeLa", "CellLine", 0), ("5-HT", "ChemicalEntity", 0), ("Mus musculus", "OrganismTaxon", 0)]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


def _gold_window_tags(enc, corrupt_edges: bool = False) -> list[list[str]]:
    """Per-window piece tags a perfect model would give; non-first pieces get a wrong tag (it must be unused),
    and with ``corrupt_edges`` a piece at a window edge inside the document gets a wrong tag too (another window
    sees it farther from its edges and must be the one used)."""
    first = enc.first
    out = []
    for a, b in enc.spans:
        tags = [enc.tags[enc.words[g]] if first[g] else "B-CellLine" for g in range(a, b)]
        if corrupt_edges:
            if a > 0:
                tags[0] = "B-OrganismTaxon"
            if b < len(enc.offsets):
                tags[-1] = "B-OrganismTaxon"
        out.append(tags)
    return out


def _spans(doc: BioDocument) -> list[tuple[int, int, str]]:
    return sorted((m.start, m.end, m.type) for m in doc.mentions)


@pytest.mark.parametrize("max_length, stride", [(512, 128), (32, 8), (24, 2)])
def test_gold_tags_decode_to_the_exact_gold_spans(tokenizer, max_length: int, stride: int) -> None:
    doc = _doc("odd", ODD_TITLE, ODD_ABSTRACT, ODD_MARKS)
    long = _doc("long", ODD_TITLE, " ".join([ODD_ABSTRACT] * 6),
                ODD_MARKS[:3] + [(s, t, k) for k in range(6) for s, t, _ in ODD_MARKS[3:]])
    encs, stats = encode_documents(tokenizer, [doc, long], max_length=max_length, stride=stride, with_tags=True)
    assert stats.mentions == stats.kept == len(doc.mentions) + len(long.mentions) == 12 + 3 + 6 * 9
    assert stats.misaligned == stats.overlapping == stats.lost == 0
    for d, enc in zip([doc, long], encs, strict=True):
        assert all(len(ids) <= max_length for ids in enc.input_ids)
        for corrupt in (False, True):
            spans = decode_windows(enc, _gold_window_tags(enc, corrupt_edges=corrupt))
            assert spans == _spans(d)
            for start, end, _ in spans:  # every span is a slice of the text with no outer whitespace
                assert d.text[start:end] == d.text[start:end].strip() != ""
    if max_length == 512:
        assert [len(e.spans) for e in encs] == [1, 1]
    else:  # the long document needs several overlapping windows
        assert len(encs[1].spans) > 5
        assert all(b1 - a2 == stride for (_, b1), (a2, _) in zip(encs[1].spans, encs[1].spans[1:]))


def test_labelling_policy_counts_misaligned_and_overlapping_mentions(tokenizer) -> None:
    text = "TNFalpha and breast cancer"
    doc = BioDocument("p", text, "", (
        EntityMention(0, 3, "TNF", "GeneOrGeneProduct", ("7124",)),  # ends inside the word TNFalpha
        EntityMention(13, 26, "breast cancer", "DiseaseOrPhenotypicFeature", ("D001943",)),
        EntityMention(20, 26, "cancer", "DiseaseOrPhenotypicFeature", ("D009369",)),  # inside the longer one
    ))
    (enc,), stats = encode_documents(tokenizer, [doc], max_length=64, stride=8, with_tags=True)
    assert (stats.kept, stats.misaligned, stats.overlapping) == (2, 1, 1)
    assert "1 not on word boundaries" in str(stats) and "1 overlapping" in str(stats)
    assert decode_windows(enc, _gold_window_tags(enc)) == [(0, 8, "GeneOrGeneProduct"),
                                                           (13, 26, "DiseaseOrPhenotypicFeature")]


def test_window_settings_are_checked(tokenizer) -> None:
    doc = _doc("x", "IL-6", "", [])
    with pytest.raises(NerBioredError, match="stride 30 must be at least 0 and below"):
        encode_documents(tokenizer, [doc], max_length=32, stride=30)
    with pytest.raises(NerBioredError, match="leaves no room"):
        encode_documents(tokenizer, [doc], max_length=3, stride=0)


def test_entity_scores_on_a_case_counted_by_hand() -> None:
    text = "AAAAA....BBBBB....CCCCCCCCCC....DDDDD....EEEEE"
    gold = BioDocument("1", text, "", (
        EntityMention(0, 5, "AAAAA", "GeneOrGeneProduct", ("a",)),
        EntityMention(9, 14, "BBBBB", "ChemicalEntity", ("b",)),
        EntityMention(18, 28, "CCCCCCCCCC", "DiseaseOrPhenotypicFeature", ("c",)),
        EntityMention(32, 37, "DDDDD", "GeneOrGeneProduct", ("d",)),
    ))
    pred = BioDocument("1", text, "", (
        EntityMention(0, 5, "AAAAA", "GeneOrGeneProduct", ("a",)),  # exact
        EntityMention(9, 14, "BBBBB", "DiseaseOrPhenotypicFeature", ("b",)),  # wrong type
        EntityMention(18, 23, "CCCCC", "DiseaseOrPhenotypicFeature", ("c",)),  # boundary error
        # DDDDD missed
        EntityMention(41, 46, "EEEEE", "ChemicalEntity", ("e",)),  # spurious
    ))
    scores = entity_scores([gold], [pred])
    # pooled: TP 1 (A); FP 3 (B as disease, short C, E); FN 3 (B, C, D) -> P = R = F1 = 1/4
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (1, 3, 3)
    assert scores.micro.precision == scores.micro.recall == scores.micro_f1 == pytest.approx(0.25)
    gene = scores.per_type["GeneOrGeneProduct"]  # TP A, FN D: P 1, R 1/2, F1 2/3
    assert (gene.precision, gene.recall, gene.f1) == (1.0, 0.5, pytest.approx(2 / 3))
    assert scores.per_type["ChemicalEntity"].f1 == 0.0  # E spurious, B missed
    disease = scores.per_type["DiseaseOrPhenotypicFeature"]  # FP: B, short C; FN: C
    assert (disease.tp, disease.fp, disease.fn) == (0, 2, 1)
    assert scores.macro_f1 == pytest.approx((2 / 3 + 0 + 0) / 3)  # over the three types with gold mentions
    assert entity_scores([gold], [gold]).micro_f1 == 1.0
    assert entity_scores([gold], []).micro.fn == 4  # an unpredicted document: every mention missed
    with pytest.raises(NerBioredError, match="not in the gold set"):
        entity_scores([gold], [BioDocument("2", text, "")])
    with pytest.raises(NerBioredError, match="another text"):
        entity_scores([gold], [BioDocument("1", "other", "")])


def test_dictionary_tagger_longest_match_word_boundaries_case() -> None:
    train = [
        _doc("t1", "IL-6 and IL-6 receptor", "growth hormone levels in breast cancer and cancer.",
             [("IL-6", "GeneOrGeneProduct", 0), ("IL-6 receptor", "GeneOrGeneProduct", 0),
              ("growth hormone", "GeneOrGeneProduct", 0), ("breast cancer", "DiseaseOrPhenotypicFeature", 0),
              ("cancer", "DiseaseOrPhenotypicFeature", 1)]),
        _doc("t2", "hormone receptor deficiency", "cancer cells and TNF and X.",
             [("hormone receptor deficiency", "DiseaseOrPhenotypicFeature", 0), ("cancer", "ChemicalEntity", 0),
              ("TNF", "GeneOrGeneProduct", 0), ("X", "ChemicalEntity", 0)]),
        _doc("t3", "cancer", "", [("cancer", "DiseaseOrPhenotypicFeature", 0)]),
    ]
    tagger = DictionaryTagger.fit(train)
    text = "Il-6 Receptor and IL-6R and TNFalpha in Breast  Cancer; cancer. Growth hormone receptor deficiency X."
    doc = BioDocument("new", text, "")
    found = [(text[a:b], t) for a, b, t, _ in tagger.find(text)]
    assert found == [
        ("Il-6 Receptor", "GeneOrGeneProduct"),  # the longer surface wins over IL-6; any case
        # IL-6R and TNFalpha: no match inside a word
        ("Breast  Cancer", "DiseaseOrPhenotypicFeature"),  # longer wins over cancer; whitespace collapsed
        ("cancer", "DiseaseOrPhenotypicFeature"),  # most frequent type (2 disease, 1 chemical)
        ("hormone receptor deficiency", "DiseaseOrPhenotypicFeature"),  # longest first beats leftmost first
        # growth hormone overlaps the longer match; X is shorter than min_chars
    ]
    (predicted,) = tagger.predict([doc])
    assert [m.ids for m in predicted.mentions][0] == ("id:il-6 receptor",)
    assert all(text[m.start:m.end] == m.text for m in predicted.mentions) and predicted.relations == ()


def test_dictionary_tagger_is_fast_on_a_hundred_abstracts() -> None:
    import time

    split = synthetic_biored(100, 100, seed=3)
    tagger = DictionaryTagger.fit(split.train)
    started = time.process_time()  # CPU seconds: wall time on a shared machine measures the other processes
    predicted = tagger.predict(split.test)
    assert time.process_time() - started < 1.0
    assert entity_scores(split.test, predicted).micro_f1 > 0.9  # the synthetic lexicon is small: mostly seen


def test_id_dictionary_lookups_and_placeholders() -> None:
    docs = [BioDocument("a", "p53 and P53 and p53", "IL-6", (
        EntityMention(0, 3, "p53", "GeneOrGeneProduct", ("7157",)),
        EntityMention(8, 11, "P53", "GeneOrGeneProduct", ("22059",)),
        EntityMention(16, 19, "p53", "GeneOrGeneProduct", ("7157",)),
        EntityMention(20, 24, "IL-6", "GeneOrGeneProduct", ("3569", "16193")),  # a composite id list
    ))]
    ids = IdDictionary.fit(docs)
    assert len(ids) == 2
    assert ids.lookup("P53", "GeneOrGeneProduct") == ("7157",)  # most frequent over case variants
    assert ids.lookup("  il-6 ", "GeneOrGeneProduct") == ("3569", "16193")
    assert ids.known("IL-6", "GeneOrGeneProduct") and not ids.known("IL-6", "ChemicalEntity")
    assert ids.lookup("IL-6", "ChemicalEntity") == ("?ChemicalEntity:il-6",)
    assert ids.lookup("Foo \t Bar", "CellLine") == ids.lookup("foo bar", "CellLine") == ("?CellLine:foo bar",)
    assert IdDictionary.from_json(ids.to_json()) == ids


@pytest.fixture(scope="module")
def smoke():
    """MiniLM trained with the smoke settings on 40 synthetic abstracts (about 10-20 s on one CPU thread)."""
    split = synthetic_biored(40, 30, seed=7)
    model = train_ner(split.train, seed=1234, device="cpu", show_progress=False, **SMOKE_TRAINING)
    return split, model, predict_mentions(model, split.test)


def test_minilm_learns_the_synthetic_entities_and_beats_the_dictionary(smoke) -> None:
    split, model, predicted = smoke
    scores = entity_scores(split.test, predicted)
    # Measured: micro-F1 0.95-0.97 over data seeds (40 abstracts, 4 epochs, about 10 s on one idle core).
    assert scores.micro_f1 >= 0.8, scores
    assert len(model.history) == SMOKE_TRAINING["epochs"] and model.train_seconds > 0
    assert model.history[-1]["loss"] < model.history[0]["loss"]
    # The synthetic lexicon is shared by train and test, so the dictionary finds every name it has seen (F1
    # about 0.8 on this split) and none it has not; the model also finds names from their shape and context.
    baseline = DictionaryTagger.fit(split.train).predict(split.test)
    assert scores.micro_f1 > entity_scores(split.test, baseline).micro_f1
    unseen_model = unseen_entity_scores(split.train, split.test, predicted)
    unseen_dict = unseen_entity_scores(split.train, split.test, baseline)
    assert unseen_model.micro.support > 20 and unseen_dict.micro.tp == 0
    assert unseen_model.micro_f1 >= 0.6, unseen_model
    for doc in predicted:  # exact slices, no relations, ids from training or shared placeholders
        assert doc.relations == ()
        for m in doc.mentions:
            assert doc.text[m.start:m.end] == m.text == m.text.strip()
            assert m.ids == model.ids.lookup(m.text, m.type)
    placeholders = {(normalise_surface(m.text), m.type): m.ids for d in predicted for m in d.mentions if m.ids[0].startswith("?")}
    assert all(ids == (f"?{t}:{s}",) for (s, t), ids in placeholders.items())
    speed = throughput(model, split.test[:10])
    assert speed.documents == 10 and speed.per_second > 0 and "abstracts/s" in str(speed)


def test_save_and_load_give_identical_predictions(smoke, tmp_path: Path) -> None:
    split, model, predicted = smoke
    folder = save_ner(model, tmp_path / "ner")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ner"]  # no half-written sibling left behind
    loaded = load_ner(folder, device="cpu")
    assert loaded.labels == model.labels and loaded.max_length == model.max_length and loaded.stride == model.stride
    assert loaded.ids == model.ids and loaded.settings["freeze_layers"] == SMOKE_TRAINING["freeze_layers"]
    assert predict_mentions(loaded, split.test) == predicted
    (folder / "model.safetensors").unlink()
    with pytest.raises(NerBioredError, match=r"incomplete: model\.safetensors missing.*relations.ner train"):
        load_ner(folder)
    with pytest.raises(NerBioredError, match=r"nowhere does not exist"):
        load_ner(tmp_path / "nowhere")


def _write_litcoin(docs: list[BioDocument], folder: Path) -> tuple[Path, Path]:
    abstracts, entities = folder / "abstracts_train.csv", folder / "entities_train.csv"
    abstracts.write_text("abstract_id\ttitle\tabstract\n" + "".join(f"{d.doc_id}\t{d.title}\t{d.abstract}\n"
                                                                    for d in docs), encoding="utf-8")
    rows = [f"{i}\t{d.doc_id}\t{m.start}\t{m.end}\t{m.type}\t{m.text}\t{','.join(m.ids)}\n"
            for d in docs for i, m in enumerate(d.mentions)]
    entities.write_text("id\tabstract_id\toffset_start\toffset_finish\ttype\tmention\tentity_ids\n" + "".join(rows),
                        encoding="utf-8")
    return abstracts, entities


def test_commands_train_predict_score(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    split = synthetic_biored(6, 3, seed=5)
    train_file = write_pubtator(split.train, tmp_path / "train.PubTator")
    test_file = write_pubtator(split.test, tmp_path / "test.PubTator")
    model_dir, pred_file = tmp_path / "model", tmp_path / "pred.PubTator"
    assert main(["train", "--train", str(train_file), "--out", str(model_dir), "--epochs", "1", "--batch-size", "8",
                 "--max-length", "64", "--freeze-layers", "5", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "6 training abstracts" in out and "model written to" in out and "epoch 1" in out
    assert main(["predict", "--model-dir", str(model_dir), "--input", str(test_file), "--out", str(pred_file),
                 "--quiet"]) == 0
    assert "abstracts/s" in capsys.readouterr().out
    predicted = read_pubtator(pred_file).documents  # strict: every offset and slice checked
    assert [d.doc_id for d in predicted] == [d.doc_id for d in split.test]
    assert all(d.text == g.text and d.relations == () for d, g in zip(predicted, split.test, strict=True))
    assert main(["score", "--gold", str(test_file), "--pred", str(pred_file)]) == 0
    out = capsys.readouterr().out
    assert "micro-F1" in out and "macro" in out and "errors:" in out
    assert main(["score", "--gold", str(test_file), "--pred", str(test_file)]) == 0
    assert "micro-F1 1.0000  macro-F1 1.0000" in capsys.readouterr().out
    # LitCoin gold files score the same PubTator predictions
    abstracts, entities = _write_litcoin(list(split.test), tmp_path)
    assert main(["score", "--format", "litcoin", "--gold", str(abstracts), "--entities", str(entities),
                 "--pred", str(test_file)]) == 0
    assert "micro-F1 1.0000" in capsys.readouterr().out
    # a broken input file: the reader's file:line messages, exit status 2
    bad = tmp_path / "bad.PubTator"
    bad.write_text("1|t|A title\n1|a|An abstract\n1\t0\t5\tWrong\tChemicalEntity\tC1\n", encoding="utf-8")
    assert main(["predict", "--model-dir", str(model_dir), "--input", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert f"{bad}:3" in capsys.readouterr().err
    assert main(["score", "--gold", str(tmp_path / "absent.PubTator"), "--pred", str(pred_file)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_missing_model_folder_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    test_file = write_pubtator(synthetic_biored(1, 1, seed=5).test, tmp_path / "test.PubTator")
    result = subprocess.run([sys.executable, "-m", "course_utils.ie.relations.ner", "predict", "--model-dir",
                             str(tmp_path / "no_model"), "--input", str(test_file), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert "no_model does not exist" in result.stderr and "relations.ner train --train FILE" in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------------------------------------ lab path


def _stand_in_biomedbert(data_dir: Path, *, dropout: float = 0.1) -> Path:
    """Stage ``data_dir/biomedbert`` as a lab administrator does (``python -m course_utils.data stage``): config.json,
    vocab.txt and pytorch_model.bin only (no tokenizer files, as BiomedBERT's repository), a tiny random
    BertForMaskedLM with the uncased BERT vocabulary (MiniLM's vocab.txt is bert-base-uncased's)."""
    import shutil

    import torch
    from transformers import BertConfig, BertForMaskedLM

    from course_utils.data import stage
    from course_utils.text.pretrained import minilm_folder

    folder = data_dir.parent / f"{data_dir.name}-biomedbert-files"
    folder.mkdir(parents=True)
    shutil.copy(minilm_folder() / "vocab.txt", folder / "vocab.txt")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout, architectures=["BertForMaskedLM"])
    config.save_pretrained(folder)
    torch.save(BertForMaskedLM(config).state_dict(), folder / "pytorch_model.bin")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "pytorch_model.bin", "vocab.txt"]
    return stage("biomedbert", folder, root=data_dir, show_progress=False)


def test_lab_path_biomedbert_by_manifest_name_from_vocab_txt_alone(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """train_ner(model="biomedbert") loads the manifest's verified folder (no hub id), builds the uncased WordPiece
    tokenizer from vocab.txt alone, trains, saves, loads and predicts the same mentions."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _stand_in_biomedbert(tmp_path / "data")
    docs = synthetic_biored(6, 2, seed=5)
    model = train_ner(docs.train, model="biomedbert", epochs=1, batch_size=4, max_length=64, device="cpu",
                      show_progress=False)
    assert model.base_model == "biomedbert"
    tok = model.tokenizer
    assert tok.tokenize("Tamoxifen BRCA1") == tok.tokenize("tamoxifen brca1")  # uncased, as BiomedBERT
    assert tok.tokenize("tamoxifen")[0] == "tam" and tok.cls_token == "[CLS]"
    enc, _ = encode_documents(tok, docs.test[:1], max_length=64, stride=8)
    assert enc[0].input_ids[0][0] == tok.cls_token_id and enc[0].input_ids[0][-1] == tok.sep_token_id
    before = predict_mentions(model, docs.test)
    save_ner(model, tmp_path / "ner")
    again = load_ner(tmp_path / "ner", device="cpu")
    assert again.tokenizer.tokenize("Tamoxifen BRCA1") == tok.tokenize("tamoxifen brca1")
    after = predict_mentions(again, docs.test)
    assert [d.mentions for d in after] == [d.mentions for d in before]


def test_lab_path_without_the_fetched_model_names_the_fetch_command(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from course_utils.errors import CourseError

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CourseError, match="python -m course_utils.data fetch biomedbert"):
        train_ner(synthetic_biored(2, 0, seed=5).train, model="biomedbert", epochs=1, device="cpu",
                  show_progress=False)


def test_ner_one_step_on_two_processes_equals_one_step_with_their_windows_together(tmp_path: Path) -> None:
    """torchrun, 2 gloo processes x 4 windows == 1 process x 8 windows, after one AdamW step (dropout 0), on the
    stand-in BiomedBERT."""
    import os

    import torch
    from safetensors.torch import load_file

    data_dir = tmp_path / "data"
    _stand_in_biomedbert(data_dir, dropout=0.0)
    docs = write_pubtator(synthetic_biored(8, 0, seed=5).train, tmp_path / "train.PubTator")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COURSE_DEVICE": "cpu",
           "COURSE_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    # 8 short abstracts, one window of at most 512 pieces each: one global batch of 8 windows, one step
    common = ["-m", "course_utils.ie.relations.ner", "train", "--train", str(docs), "--model", "biomedbert",
              "--epochs", "1", "--batch-size", "8", "--max-length", "512", "--seed", "3", "--quiet"]
    outs = {}
    for name, launcher in (("two", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                    "--nproc_per_node", "2"]), ("one", [sys.executable])):
        done = subprocess.run([*launcher, *common, "--out", str(tmp_path / name)], env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        outs[name] = done.stdout
    assert "trained on 2 processes" in outs["two"] and "on 2 processes" not in outs["one"]
    meta = {name: __import__("json").loads((tmp_path / name / "ner_biored.json").read_text()) for name in outs}
    assert meta["two"]["settings"]["processes"] == 2 and meta["one"]["settings"]["processes"] == 1
    assert len(meta["one"]["history"]) == 1
    two, one = (load_file(tmp_path / name / "model.safetensors") for name in ("two", "one"))
    assert one.keys() == two.keys()
    for name, value in one.items():
        if name.endswith("attention.self.key.bias"):
            continue  # true gradient 0 (the softmax removes it); AdamW's first step scales its rounding noise up
        torch.testing.assert_close(two[name], value, rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
