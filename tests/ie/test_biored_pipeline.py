"""Chapter 13 end to end: the train / predict / score commands on a tiny file, bad input, candidate pairs, and
relations scored over predicted entities (a relation counts only when its ids are the gold ids)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from course_utils.ie.biored import (
    NO_RELATION,
    BioDocument,
    EntityMention,
    Relation,
    candidate_pairs,
    labelled_pairs,
    read_pubtator,
    write_pubtator,
)
from course_utils.ie.relations.pipeline import (
    PipelineError,
    PipelineSettings,
    load_pipeline,
    main,
    predict_documents,
    read_documents,
    save_pipeline,
    score_documents,
    score_files,
    train_pipeline,
)
from course_utils.ie.relations.synthetic import synthetic_biored


@pytest.fixture(scope="module")
def split():
    return synthetic_biored(24, 6, seed=7)


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _doc(doc_id: str, title: str, abstract: str, spans: list[tuple[str, str, tuple[str, ...]]],
         relations: tuple[Relation, ...] = ()) -> BioDocument:
    """A document whose mentions are the first occurrence of each surface after the previous one."""
    text = f"{title} {abstract}"
    mentions, cursor = [], 0
    for surface, etype, ids in spans:
        start = text.index(surface, cursor)
        mentions.append(EntityMention(start, start + len(surface), surface, etype, ids))
        cursor = start + len(surface)
    return BioDocument(doc_id, title, abstract, tuple(mentions), relations)


CHEM, DIS, GENE = "ChemicalEntity", "DiseaseOrPhenotypicFeature", "GeneOrGeneProduct"


def test_candidate_pairs_of_a_known_document() -> None:
    """4 distinct ids (one mentioned twice, two in one composite mention) give 4 * 3 / 2 = 6 pairs."""
    doc = _doc("1", "Aspirin in gout.", "Aspirin lowers BRCA1 and BRCA2 protein levels in gout.",
               [("Aspirin", CHEM, ("C1",)), ("gout", DIS, ("D1",)), ("Aspirin", CHEM, ("C1",)),
                ("BRCA1 and BRCA2 protein", GENE, ("672", "675")), ("gout", DIS, ("D1",))],
               (Relation("Negative_Correlation", "C1", "672", True), Relation("Association", "D1", "C1", False)))
    pairs = candidate_pairs(doc)
    assert len(pairs) == 6 and pairs == sorted(pairs)
    assert ("672", "C1") in pairs and ("C1", "D1") in pairs and all(a < b for a, b in pairs)
    labelled = {(p.id1, p.id2): p for p in labelled_pairs(doc)}
    assert labelled[("C1", "D1")].relation == "Association" and labelled[("C1", "D1")].novel is False
    assert labelled[("672", "C1")].relation == "Negative_Correlation"
    assert sum(p.relation == NO_RELATION for p in labelled.values()) == 4
    one_id = _doc("2", "Aspirin.", "Aspirin again.", [("Aspirin", CHEM, ("C1",)), ("Aspirin", CHEM, ("C1",))])
    assert candidate_pairs(one_id) == []


def test_relations_over_predicted_entities_count_only_with_gold_ids() -> None:
    gold = _doc("9", "Aspirin and gout.", "Aspirin reduces gout and raises TNF in arthritis.",
                [("Aspirin", CHEM, ("C1",)), ("gout", DIS, ("D1",)), ("Aspirin", CHEM, ("C1",)),
                 ("gout", DIS, ("D1",)), ("TNF", GENE, ("7124",)), ("arthritis", DIS, ("D2",))],
                (Relation("Negative_Correlation", "C1", "D1", True), Relation("Positive_Correlation", "C1", "7124", False),
                 Relation("Association", "7124", "D2", True)))
    # the NER model found Aspirin and gout with their ids, TNF only as a placeholder, and missed arthritis
    placeholder = "?GeneOrGeneProduct:tnf"
    pred = _doc("9", gold.title, gold.abstract,
                [("Aspirin", CHEM, ("C1",)), ("gout", DIS, ("D1",)), ("TNF", GENE, (placeholder,))],
                (Relation("Negative_Correlation", "D1", "C1", True), Relation("Positive_Correlation", placeholder, "C1", False)))
    scores = score_documents([gold], [pred])
    rel = scores["relations"]
    assert (rel["micro"]["tp"], rel["micro"]["fp"], rel["micro"]["fn"]) == (1, 1, 2)
    assert rel["per_type"]["Negative_Correlation"]["f1"] == 1.0
    assert rel["per_type"]["Positive_Correlation"]["tp"] == 0
    assert rel["types_present"] == ["Association", "Negative_Correlation", "Positive_Correlation"]
    assert rel["macro_f1"] == pytest.approx(1 / 3)
    for name in ("entity_pair", "pair_type", "pair_type_novelty"):
        assert scores["biored"][name]["tp"] == 1 and scores["biored"][name]["fn"] == 2
    ents = scores["entities"]
    assert ents["micro"]["tp"] == 3 and ents["micro"]["fn"] == 3 and ents["micro"]["fp"] == 0
    # relations of the placeholder pair are candidates of the predicted document, like any other
    assert (placeholder, "C1") in candidate_pairs(pred)


def test_commands_on_a_tiny_file(split, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = write_pubtator(split.train[:12], tmp_path / "train.PubTator")
    gold = write_pubtator(split.test, tmp_path / "gold.PubTator")
    model_dir = tmp_path / "model"
    assert main(["train", "--train", str(train), "--out", str(model_dir), "--ner-epochs", "1",
                 "--relation-model", "pretrained", "--relation-epochs", "1", "--encoder-layers", "2",
                 "--max-length", "64"]) == 0
    assert {p.name for p in model_dir.iterdir()} == {"pipeline.json", "ner", "relations"}
    assert not list(tmp_path.glob(".model.tmp-*"))
    for flags, name in (([], "pred.PubTator"), (["--gold-entities"], "gold_ents.PubTator")):
        assert main(["predict", "--model-dir", str(model_dir), "--input", str(gold), "--out", str(tmp_path / name),
                     *flags]) == 0
    out = capsys.readouterr().out
    assert out.count("abstracts/s") == 2
    pred = read_pubtator(tmp_path / "pred.PubTator").documents
    kept = read_pubtator(tmp_path / "gold_ents.PubTator").documents
    assert [d.doc_id for d in pred] == [d.doc_id for d in split.test]
    assert [d.mentions for d in kept] == [d.mentions for d in split.test]
    assert all(d.text[m.start:m.end] == m.text for d in pred for m in d.mentions)
    assert main(["predict", "--model-dir", str(model_dir), "--input", str(gold), "--out",
                 str(tmp_path / "sub.csv")]) == 0
    with (tmp_path / "sub.csv").open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    assert rows[0] == ["id", "abstract_id", "offset_start", "offset_finish", "type"]
    assert len(rows) - 1 == sum(len(d.mentions) for d in pred)
    as_submission = score_files(gold, tmp_path / "sub.csv")  # entities only: the submission has no relations
    assert as_submission["entities"] == score_files(gold, tmp_path / "pred.PubTator")["entities"]
    assert as_submission["relations"]["micro"]["tp"] == 0
    assert main(["score", "--gold", str(gold), "--pred", str(tmp_path / "gold_ents.PubTator"),
                 "--json", str(tmp_path / "scores.json")]) == 0
    text = capsys.readouterr().out
    assert "entities" in text and "pair_type_novelty" in text and "macro" in text
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["entities"]["micro"]["f1"] == 1.0  # gold entities kept
    assert scores == score_files(gold, tmp_path / "gold_ents.PubTator")
    assert main(["score", "--gold", str(gold), "--pred", str(gold)]) == 0
    assert "pair_type_novelty            P=1.000  R=1.000  F1=1.000" in capsys.readouterr().out


def test_bad_file_exits_2_naming_file_and_line(split, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_pubtator(split.test[:2], tmp_path / "good.PubTator").read_text().splitlines()
    bad_line = next(i for i, line in enumerate(good) if line.count("\t") == 5)
    cols = good[bad_line].split("\t")
    cols[3] = cols[3] + "x"  # the mention no longer equals its slice of the text
    good[bad_line] = "\t".join(cols)
    bad = tmp_path / "bad.PubTator"
    bad.write_text("\n".join(good) + "\n")
    assert main(["score", "--gold", str(bad), "--pred", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:{bad_line + 1}" in err and "differs from the text slice" in err
    assert main(["train", "--train", str(bad), "--out", str(tmp_path / "m")]) == 2
    assert f"{bad}:{bad_line + 1}" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    assert main(["score", "--gold", str(tmp_path / "absent.PubTator"), "--pred", str(bad)]) == 2
    assert "absent.PubTator not found" in capsys.readouterr().err


def test_missing_model_dir(split, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = write_pubtator(split.test[:2], tmp_path / "gold.PubTator")
    assert main(["predict", "--model-dir", str(tmp_path / "nowhere"), "--input", str(gold),
                 "--out", str(tmp_path / "p.PubTator")]) == 2
    err = capsys.readouterr().err
    assert "no trained pipeline in" in err and "nowhere" in err and "relations.pipeline train" in err
    assert not (tmp_path / "p.PubTator").exists()
    with pytest.raises(PipelineError):
        load_pipeline(tmp_path)


def test_dictionary_pipeline_round_trips_and_predicts_over_its_own_ids(split, tmp_path: Path) -> None:
    settings = PipelineSettings(ner="dictionary", relation_model="lstm", relation_epochs=2)
    models = train_pipeline(split.train, settings, show_progress=False)
    save_pipeline(models, tmp_path / "dict")
    again = load_pipeline(tmp_path / "dict")
    assert again.ner.entries == models.ner.entries and again.settings == settings
    first = predict_documents(models, split.test)
    assert predict_documents(again, split.test) == first
    assert set(models.train_seconds) == {"ner", "relations"}
    for doc in first:  # relations only between ids of the predicted mentions
        ids = {i for m in doc.mentions for i in m.ids}
        assert all(r.id1 in ids and r.id2 in ids for r in doc.relations)
    kept = predict_documents(load_pipeline(tmp_path / "dict", gold_entities=True), split.test, gold_entities=True)
    assert [d.mentions for d in kept] == [d.mentions for d in split.test]
    with pytest.raises(PipelineError, match="without its NER model"):
        predict_documents(load_pipeline(tmp_path / "dict", gold_entities=True), split.test)


def test_litcoin_files_are_read_with_their_siblings(tmp_path: Path) -> None:
    (tmp_path / "abstracts_x.csv").write_text("abstract_id\ttitle\tabstract\n5\tAspirin in gout.\tAspirin helps.\n")
    (tmp_path / "entities_x.csv").write_text(
        "id\tabstract_id\toffset_start\toffset_finish\ttype\tmention\tentity_ids\n"
        f"0\t5\t0\t7\t{CHEM}\tAspirin\tD001241\n1\t5\t11\t15\t{DIS}\tgout\tD006073\n")
    (tmp_path / "relations_x.csv").write_text(
        "id\tabstract_id\ttype\tentity_1_id\tentity_2_id\tnovel\n0\t5\tAssociation\tD001241\tD006073\tNovel\n")
    docs = read_documents(tmp_path / "abstracts_x.csv")
    assert len(docs) == 1 and len(docs[0].mentions) == 2 and docs[0].relations[0].novel is True
    assert read_documents(tmp_path / "abstracts_x.csv", "litcoin") == docs


def test_train_command_under_torchrun_on_two_processes(split, tmp_path: Path) -> None:
    """The student-facing train command under ``torchrun --standalone --nproc_per_node 2`` (gloo, CPU): it completes,
    rank 0 alone prints and saves, and the saved pipeline predicts and scores."""
    import os
    import subprocess
    import sys

    train = write_pubtator(split.train, tmp_path / "train.PubTator")
    test = write_pubtator(split.test, tmp_path / "test.PubTator")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COURSE_DEVICE": "cpu"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "course_utils.ie.relations.pipeline", "train", "--train", str(train), "--out",
                           str(tmp_path / "model"), "--ner", "dictionary", "--relation-model", "lstm",
                           "--relation-epochs", "2"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count(f"trained on {len(split.train)} abstracts on 2 processes") == 1, done.stdout
    config = json.loads((tmp_path / "model" / "pipeline.json").read_text())
    assert config["settings"]["relation_model"] == "lstm" and config["settings"]["ner"] == "dictionary"
    assert main(["predict", "--model-dir", str(tmp_path / "model"), "--input", str(test), "--out",
                 str(tmp_path / "pred.PubTator"), "--gold-entities", "--device", "cpu"]) == 0
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["ner", "pipeline.json", "relations"]
    assert len(read_pubtator(tmp_path / "pred.PubTator").documents) == 6


def test_train_command_passes_the_ner_encoder_and_batch_sizes(split, tmp_path: Path, monkeypatch) -> None:
    """--ner-model reaches the NER model (lab: the manifest name biomedbert), batch sizes and the device too."""
    import course_utils.ie.relations.pipeline as bp

    seen = {}

    def fake_train(documents, settings, *, device=None, show_progress=True):
        seen.update(settings=settings, device=str(device))
        raise PipelineError("stop here")

    monkeypatch.setattr(bp, "train_pipeline", fake_train)
    train = write_pubtator(split.train, tmp_path / "train.PubTator")
    assert main(["train", "--train", str(train), "--out", str(tmp_path / "m"), "--ner-model", "biomedbert",
                 "--ner-batch-size", "8", "--relation-batch-size", "2", "--device", "cpu"]) == 2
    s = seen["settings"]
    assert (s.ner_model, s.ner_batch_size, s.relation_batch_size, seen["device"]) == ("biomedbert", 8, 2, "cpu")
