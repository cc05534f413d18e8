"""Chapter 13 exploration: every figure of a hand-made abstract counted by hand; the corpus per profile; real-data
figures the chapter states (COURSE_REAL_DATA)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from course_utils.ie.biored import NO_RELATION, BioDocument, EntityMention, Relation, labelled_pairs
from course_utils.ie.relations import explore as E

matplotlib.use("Agg")

TITLE = "Tamoxifen in BRCA1 carriers."  # 28 characters, 4 words, one sentence
ABSTRACT = ("Tamoxifen reduces breast and ovarian cancer risk. "  # 7 words
            "It binds ESR1, e.g. in MCF-7 cells. "  # 9 words (e, g, MCF, 7 are words); "e.g." ends no sentence
            "BRCA1 carriers were followed.")  # 4 words
TEXT = f"{TITLE} {ABSTRACT}"


def _mention(surface: str, etype: str, ids: tuple[str, ...], nth: int = 0) -> EntityMention:
    start = -1
    for _ in range(nth + 1):
        start = TEXT.index(surface, start + 1)
    return EntityMention(start, start + len(surface), surface, etype, ids)


DOC = BioDocument("1", TITLE, ABSTRACT, (
    _mention("Tamoxifen", "ChemicalEntity", ("D013629",)),
    _mention("BRCA1", "GeneOrGeneProduct", ("672",)),
    _mention("Tamoxifen", "ChemicalEntity", ("D013629",), nth=1),
    _mention("breast and ovarian cancer", "DiseaseOrPhenotypicFeature", ("D001943", "D010051")),  # composite
    _mention("ESR1", "GeneOrGeneProduct", ("2099",)),
    _mention("MCF-7", "CellLine", ("CVCL_0031",)),
    _mention("BRCA1", "GeneOrGeneProduct", ("672",), nth=1),
), (
    Relation("Negative_Correlation", "D013629", "D001943", True),
    Relation("Negative_Correlation", "D010051", "D013629", True),
    Relation("Bind", "D013629", "2099", False),  # "It binds ESR1": the next sentence
    Relation("Association", "672", "D001943", True),  # title and last sentence vs the first: never together
))
# A second document: two ids, one relation, no sentence punctuation in the title.
DOC2 = BioDocument("2", "ESR1 in cancer", "ESR1 is associated with cancer (Smith et al. 2020).", (
    EntityMention(0, 4, "ESR1", "GeneOrGeneProduct", ("2099",)),
    EntityMention(8, 14, "cancer", "DiseaseOrPhenotypicFeature", ("D009369",)),
    EntityMention(15, 19, "ESR1", "GeneOrGeneProduct", ("2099",)),
    EntityMention(39, 45, "cancer", "DiseaseOrPhenotypicFeature", ("D009369",)),
), (Relation("Association", "2099", "D009369", None),))


def test_hand_made_documents_are_consistent() -> None:
    for doc in (DOC, DOC2):
        assert all(doc.text[m.start:m.end] == m.text for m in doc.mentions)


def test_words_and_sentences() -> None:
    assert len(TEXT) == 144 and len(E.word_spans(TEXT)) == 24
    assert E.word_spans("IL-6 (3.5 mg)") == [(0, 2), (3, 4), (6, 7), (8, 9), (10, 12)]
    sentences = [TEXT[a:b] for a, b in E.sentence_spans(DOC)]
    assert sentences == [TITLE, "Tamoxifen reduces breast and ovarian cancer risk.", "It binds ESR1, e.g. in MCF-7 cells.",
                         "BRCA1 carriers were followed."]
    assert [DOC2.text[a:b] for a, b in E.sentence_spans(DOC2)] == [
        "ESR1 in cancer", "ESR1 is associated with cancer (Smith et al. 2020)."]
    odd = BioDocument("3", "", "Dose was 2.5 mg vs. 5 mg! Fig. 2 shows it? Yes.  ", ())
    assert [odd.text[a:b] for a, b in E.sentence_spans(odd)] == ["Dose was 2.5 mg vs. 5 mg!", "Fig. 2 shows it?", "Yes."]


def test_document_tables() -> None:
    lengths = E.document_lengths([DOC, DOC2])
    assert lengths.loc["1"].to_dict() == {"title_chars": 28, "abstract_chars": 115, "chars": 144, "words": 24,
                                          "sentences": 4}
    assert lengths.loc["2", "sentences"] == 2
    per_doc = E.entities_per_document([DOC, DOC2])
    assert per_doc.loc["1"].to_dict() == {"mentions": 7, "composite": 1, "entities": 6, "relations": 4}
    assert per_doc.loc["2"].to_dict() == {"mentions": 4, "composite": 0, "entities": 2, "relations": 1}


def test_mentions_per_type_and_ids_per_mention() -> None:
    table = E.mentions_per_type([DOC, DOC2])
    assert list(table.index) == ["GeneOrGeneProduct", "DiseaseOrPhenotypicFeature", "ChemicalEntity", "CellLine"]
    assert table.loc["GeneOrGeneProduct"].to_dict() == {"mentions": 5, "distinct_ids": 2, "documents": 2,
                                                        "mentions_per_document": 2.5}
    assert table.loc["DiseaseOrPhenotypicFeature", "distinct_ids"] == 3  # the composite mention's two ids + D009369
    assert table.loc["ChemicalEntity"].tolist() == [2, 1, 1, 1.0]
    ids = E.ids_per_mention([DOC, DOC2])
    assert ids["mentions"].to_dict() == {1: 10, 2: 1}
    assert ids.loc[2, "share"] == pytest.approx(1 / 11)


def test_relation_type_pairs_and_novelty() -> None:
    table = E.relation_type_pairs([DOC])
    assert list(table.columns) == ["Association", "Negative_Correlation", "Bind"]  # BioRED's order of types
    assert table.loc[("ChemicalEntity", "DiseaseOrPhenotypicFeature"), "Negative_Correlation"] == 2
    assert table.loc[("ChemicalEntity", "GeneOrGeneProduct"), "Bind"] == 1
    assert table.loc[("DiseaseOrPhenotypicFeature", "GeneOrGeneProduct"), "Association"] == 1
    assert int(table.to_numpy().sum()) == 4
    with_none = E.relation_type_pairs([DOC], include_none=True)
    assert list(with_none.columns)[-1] == NO_RELATION and int(with_none.to_numpy().sum()) == 15
    assert with_none[NO_RELATION].sum() == 11
    novelty = E.novelty_by_type([DOC, DOC2])
    assert novelty.loc["Negative_Correlation", ["relations", "novel", "not_novel", "unmarked"]].tolist() == [2, 2, 0, 0]
    assert novelty.loc["Association", ["novel", "unmarked"]].tolist() == [1, 1]
    assert novelty.loc["all relations", ["relations", "novel", "not_novel", "unmarked"]].tolist() == [5, 3, 1, 1]
    assert novelty.loc["all relations", "novel_share"] == pytest.approx(0.75)  # the unmarked one left out


def test_pair_distances_take_the_closest_mentions() -> None:
    table = E.pair_distances([DOC]).set_index(["id1", "id2"])
    assert len(table) == 15
    neg = table.loc[("D001943", "D013629")]
    assert (neg["relation"], neg["chars"], neg["words"], neg["same_sentence"]) == ("Negative_Correlation", 9, 1, True)
    bind = table.loc[("2099", "D013629")]
    # second "Tamoxifen" ... "It binds ESR1": reduces breast and ovarian cancer risk It binds = 8 words
    gap = TEXT.index("ESR1") - (TEXT.index("Tamoxifen", 1) + len("Tamoxifen"))
    assert (bind["chars"], bind["words"], bind["same_sentence"]) == (gap, 8, False)
    assoc = table.loc[("672", "D001943")]
    # title "BRCA1" ... "breast": carriers Tamoxifen reduces = 3 words, across the title's end
    assert (assoc["words"], assoc["same_sentence"]) == (3, False)
    both = table.loc[("D001943", "D010051")]  # two ids of one composite mention: overlapping, distance 0
    assert (both["relation"], both["chars"], both["words"], both["same_sentence"]) == (NO_RELATION, 0, 0, True)
    related = E.pair_distances([DOC], related_only=True)
    assert len(related) == 4 and set(related["relation"]) == {"Negative_Correlation", "Bind", "Association"}
    two = E.pair_distances([DOC2]).iloc[0]
    # closest: the title's "cancer" and the abstract's "ESR1" (one space, across the title's end); "ESR1 in cancer"
    # (the title) still puts the two ids in one sentence
    assert (two["chars"], two["words"], two["same_sentence"]) == (1, 0, True)


def test_cross_sentence_share_and_pair_balance() -> None:
    cross = E.cross_sentence_share([DOC])
    assert cross.loc["related pairs", ["pairs", "never_in_one_sentence"]].tolist() == [4, 2]
    assert cross.loc["related pairs", "share"] == pytest.approx(0.5)
    assert cross.loc["Bind", "share"] == 1.0 and cross.loc["Negative_Correlation", "share"] == 0.0
    assert cross.loc["no relation", "pairs"] == 11
    balance = E.pair_balance([DOC, DOC2])
    assert balance.loc["1"].tolist() == [6, 15, 4, 11, pytest.approx(11 / 15)]  # n(n-1)/2 with n = 6
    assert balance.loc["2"].tolist() == [2, 1, 1, 0, 0.0]
    summary = E.corpus_summary({"hand-made": [DOC, DOC2]}).loc["hand-made"]
    assert summary["documents"] == 2 and summary["mentions"] == 11 and summary["relations"] == 5
    assert summary["candidate_pairs"] == 16 and summary["no_relation_share"] == pytest.approx(11 / 16)
    assert summary["composite_share"] == pytest.approx(1 / 11)
    assert summary["cross_sentence_share"] == pytest.approx(2 / 5)


def test_relation_summary_and_confusion() -> None:
    gold_pairs = labelled_pairs(DOC)
    perfect = E.relation_summary([DOC], gold_pairs)
    assert perfect["pair + type + novelty F1"] == 1.0 and perfect["known-pairs accuracy"] == 1.0
    # Predict Negative_Correlation on every candidate pair: the seed's accuracy sees 2 of 4 right, F1 sees 13 false
    # positives.
    everything = [dataclasses.replace(p, relation="Negative_Correlation", novel=True) for p in gold_pairs]
    row = E.relation_summary([DOC], everything)
    assert row["known-pairs accuracy"] == 0.5
    assert row["entity pair F1"] == pytest.approx(2 * 4 / (15 + 4))  # P 4/15, R 1
    assert row["pair + type F1"] == pytest.approx(2 * 2 / (15 + 4))
    assert row["macro-F1"] == pytest.approx((2 * 2 / (15 + 2) + 0 + 0) / 3)  # over the 3 gold types
    confusion = E.relation_confusion([DOC], everything)
    assert confusion.loc[NO_RELATION, "Negative_Correlation"] == 11
    assert confusion.loc["Bind", "Negative_Correlation"] == 1 and int(confusion.to_numpy().sum()) == 15
    missing = E.relation_confusion([DOC], [])  # pairs not predicted count as no relation
    assert missing.loc[NO_RELATION, NO_RELATION] == 11 and missing.loc["Bind", NO_RELATION] == 1


def test_figures_are_returned() -> None:
    import matplotlib.pyplot as plt

    figures = [E.plot_relation_type_pairs(E.relation_type_pairs([DOC, DOC2])),
               E.plot_distances(E.pair_distances([DOC, DOC2])),
               E.plot_pair_balance(E.pair_balance([DOC, DOC2]))]
    scores = pd.DataFrame({"accuracy": [0.9, 0.5], "F1": [0.8, 0.1]}, index=["LSTM", "rule"])
    figures.append(E.plot_model_scores(scores))
    for fig in figures:
        assert fig.axes and fig.axes[0].get_title()
        plt.close(fig)
    with pytest.raises(E.ExploreError, match="unit"):
        E.plot_distances(E.pair_distances([DOC]), unit="tokens")
    with pytest.raises(E.ExploreError, match="flat columns"):
        E.plot_model_scores(pd.concat({"gold": scores}, axis=1))


def test_empty_corpus_gives_empty_tables() -> None:
    assert E.document_lengths([]).empty and E.pair_balance([]).empty and E.pair_distances([]).empty
    assert E.relation_type_pairs([]).shape == (0, 0)


def test_chapter_data_per_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from course_utils.ie.biored import write_pubtator
    from course_utils.profiles import chapter_settings

    smoke = chapter_settings(13, "smoke")
    data = E.chapter_data(smoke)
    assert (len(data.train), len(data.test), data.source) == (smoke.n_train, smoke.n_test, "synthetic")
    # lab: BioRED Train -> Dev from the data layer's folder
    folder = tmp_path / "data" / "biored"
    (folder / "BioRED").mkdir(parents=True)
    write_pubtator([DOC], folder / "BioRED" / "Train.PubTator")
    write_pubtator([DOC2], folder / "BioRED" / "Dev.PubTator")
    (folder / ".course-complete").write_text("")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    lab = E.chapter_data(chapter_settings(13, "lab"))
    assert lab.train == (DOC,) and lab.test == (DOC2,) and lab.test_name == "BioRED Dev"
    # the rehearsal's size knob: the first N abstracts of each file, through the documented override
    write_pubtator([DOC, DOC2], folder / "BioRED" / "Train.PubTator")
    monkeypatch.setenv("COURSE_SCHEDULE_OVERRIDE", '{"13": {"train_documents": 1, "test_documents": 0}}')
    capped = E.chapter_data(chapter_settings(13, "lab"))
    assert capped.train == (DOC,) and capped.test == () and "first 1 Train and 0 Dev" in capped.source
    monkeypatch.delenv("COURSE_SCHEDULE_OVERRIDE")
    assert E.chapter_data(chapter_settings(13, "lab")).train == (DOC, DOC2)
    (folder / "BioRED" / "Dev.PubTator").unlink()
    with pytest.raises(E.ExploreError, match="no Dev.PubTator.*fetch biored"):
        E.chapter_data(chapter_settings(13, "lab"))


def test_smoke_ner_settings_are_the_modules_smoke_training() -> None:
    from course_utils.ie.relations.ner import SMOKE_TRAINING
    from course_utils.profiles import chapter_settings

    s = chapter_settings(13, "smoke")
    assert {"epochs": s.ner_epochs, "batch_size": s.ner_batch_size, "max_length": s.max_length, "lr": s.ner_lr,
            "head_lr": s.ner_head_lr, "freeze_layers": s.ner_freeze_layers} == SMOKE_TRAINING
    assert not s.pretrained_relations and chapter_settings(13, "lab").pretrained_relations


@pytest.mark.real_data
def test_biored_figures_the_chapter_states(real_data: Path) -> None:
    """The BioRED figures chapter 13's prose quotes (counts only, no text)."""
    from course_utils.ie.biored import read_pubtator

    folder = real_data / "biored"
    if not folder.is_dir():
        pytest.skip("no biored folder in COURSE_REAL_DATA")
    train = read_pubtator(folder / "Train.PubTator").documents
    dev = read_pubtator(folder / "Dev.PubTator").documents
    summary = E.corpus_summary({"train": train, "dev": dev})
    assert summary.loc["train", "candidate_pairs"] == 30830 and summary.loc["dev", "candidate_pairs"] == 8917
    cross = {name: E.cross_sentence_share(docs).loc["related pairs"] for name, docs in (("train", train), ("dev", dev))}
    assert cross["train"][["pairs", "never_in_one_sentence"]].tolist() == [4175, 569]  # 13.6 %
    assert cross["dev"][["pairs", "never_in_one_sentence"]].tolist() == [1161, 205]  # 17.7 %
    balance = E.pair_balance(train)
    assert balance["no_relation_pairs"].sum() == 26655  # 86.5 % of the candidate pairs
    ids = E.ids_per_mention(train)["mentions"]
    assert int(ids[ids.index > 1].sum()) == 367 and int(ids.get(0, 0)) == 31  # composite mentions; mentions without id
    assert np.isclose(summary.loc["train", "median_words"], 254.5)
    novelty = E.novelty_by_type(train).loc["all relations"]
    assert (novelty["novel"], novelty["not_novel"]) == (2838, 1340)  # 68 % novel


@pytest.mark.real_data
def test_gold_tags_of_biored_dev_decode_back_through_windows(real_data: Path) -> None:
    """Chapter 13's check of the NER offsets on BioRED Dev: 3,527 of 3,533 mentions come back exactly (six end
    inside a word and are widened to whole words)."""
    from course_utils.ie.biored import read_pubtator
    from course_utils.ie.relations import ner as N
    from course_utils.text.pretrained import load_tokenizer

    path = real_data / "biored" / "Dev.PubTator"
    if not path.is_file():
        pytest.skip("no biored folder in COURSE_REAL_DATA")
    dev = read_pubtator(path).documents
    encodings, stats = N.encode_documents(load_tokenizer("minilm"), dev, max_length=32, stride=8, with_tags=True)
    decoded = [set(N.decode_windows(e, [[e.tags[e.words[g]] for g in range(a, b)] for a, b in e.spans]))
               for e in encodings]
    gold = [{(m.start, m.end, m.type) for m in d.mentions} for d in dev]
    assert sum(len(a & b) for a, b in zip(decoded, gold)) == 3527 and stats.misaligned == 6


# ---------------------------------------------------------------------------------------------- exercises


def test_exercise_13_1_candidate_pairs() -> None:
    from itertools import permutations

    from course_utils.exercises import CORRECT, INCORRECT, NOT_ATTEMPTED, ch13
    from course_utils.ie.biored import candidate_pairs

    assert ch13.check_candidate_pairs(ch13.candidate_pairs_solution).status == CORRECT
    assert ch13.check_candidate_pairs(lambda ids: None).status == NOT_ATTEMPTED
    assert ch13.candidate_pairs_solution([m.ids for m in DOC.mentions]) == candidate_pairs(DOC)  # the package's rule

    def ordered(ids):  # both directions
        return list(permutations(sorted({i for m in ids for i in m}), 2))

    fb = ch13.check_candidate_pairs(ordered)
    assert fb.status == INCORRECT and "undirected" in fb.message

    def mention_pairs(ids):  # pairs of mentions, not of ids
        return [tuple(sorted((a[0], b[0]))) for k, a in enumerate(ids) for b in ids[k + 1:] if a[0] != b[0]]

    fb = ch13.check_candidate_pairs(mention_pairs)
    assert fb.status == INCORRECT and "not mentions" in fb.message

    def first_id_only(ids):  # ignores the second id of a composite mention
        return ch13.candidate_pairs_solution([m[:1] for m in ids])

    fb = ch13.check_candidate_pairs(first_id_only)
    assert fb.status == INCORRECT and "composite" in fb.message

    def with_self(ids):
        unique = sorted({i for m in ids for i in m})
        return [(a, b) for k, a in enumerate(unique) for b in unique[k:]]

    fb = ch13.check_candidate_pairs(with_self)
    assert fb.status == INCORRECT and "itself" in fb.message
    fb = ch13.check_candidate_pairs(lambda ids: [(b, a) for a, b in ch13.candidate_pairs_solution(ids)])
    assert fb.status == INCORRECT and "smaller id first" in fb.message
    assert ch13.check_candidate_pairs(lambda ids: 3).status == INCORRECT


def test_exercise_13_2_biored_f1() -> None:
    from course_utils.exercises import CORRECT, INCORRECT, NOT_ATTEMPTED, ch13
    from course_utils.ie.biored import biored_metrics

    assert ch13.check_biored_f1(ch13.biored_f1_solution).status == CORRECT
    assert ch13.check_biored_f1(lambda g, p, level: None).status == NOT_ATTEMPTED
    # the solution agrees with the package's three metrics
    gold = [(d, *r) for d, r in (("1", ("672", "D001943", "Association", True)),
                                 ("1", ("D013629", "D001943", "Negative_Correlation", True)),
                                 ("2", ("2099", "D009369", "Bind", False)))]
    pred = [("1", "D001943", "672", "Association", False), ("2", "2099", "D009369", "Bind", False),
            ("2", "2099", "D013629", "Bind", True)]

    def docs(rows):
        return [BioDocument(d, "t", "a", (), tuple(Relation(t, a, b, n) for dd, a, b, t, n in rows if dd == d))
                for d in ("1", "2")]

    package = biored_metrics(docs(gold), docs(pred))
    for level, key in (("pair", "entity_pair"), ("type", "pair_type"), ("novelty", "pair_type_novelty")):
        assert ch13.biored_f1_solution(gold, pred, level) == pytest.approx(package[key].f1)

    def ordered(g, p, level):  # (a, b) != (b, a)
        width = {"pair": 3, "type": 4, "novelty": 5}[level]
        gs, ps = {r[:width] for r in g}, {r[:width] for r in p}
        tp = len(gs & ps)
        return 2 * tp / (len(gs) + len(ps)) if tp else 0.0

    fb = ch13.check_biored_f1(ordered)
    assert fb.status == INCORRECT and "undirected" in fb.message
    fb = ch13.check_biored_f1(lambda g, p, level: ch13.biored_f1_solution(g, p, "novelty"))
    assert fb.status == INCORRECT and "only the document and the two ids" in fb.message
    fb = ch13.check_biored_f1(lambda g, p, level: ch13.biored_f1_solution([("d", *r[1:]) for r in g],
                                                                          [("d", *r[1:]) for r in p], level))
    assert fb.status == INCORRECT and "its document" in fb.message  # documents ignored

    def recall(g, p, level):
        width = {"pair": 3, "type": 4, "novelty": 5}[level]
        gs = {(r[0], *sorted(r[1:3]), *r[3:])[:width] for r in g}
        ps = {(r[0], *sorted(r[1:3]), *r[3:])[:width] for r in p}
        return len(gs & ps) / len(gs)

    fb = ch13.check_biored_f1(recall)
    assert fb.status == INCORRECT and "recall" in fb.message

    def divides_by_zero(g, p, level):  # right, but 0 / 0 when nothing matches
        width = {"pair": 3, "type": 4, "novelty": 5}[level]
        gs = {(r[0], *sorted(r[1:3]), *r[3:])[:width] for r in g}
        ps = {(r[0], *sorted(r[1:3]), *r[3:])[:width] for r in p}
        precision, recall = len(gs & ps) / len(ps), len(gs & ps) / len(gs)
        return 2 * precision * recall / (precision + recall)

    fb = ch13.check_biored_f1(divides_by_zero)
    assert fb.status == INCORRECT and "ZeroDivisionError" in fb.message
