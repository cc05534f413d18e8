"""Chapter 13: BioRED/LitCoin readers on crafted files, the writer, candidate pairs and relation metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.errors import CourseError
from course_utils.ie.biored import (
    NO_RELATION,
    BioDocument,
    BioREDFormatError,
    EntityMention,
    PairExample,
    Relation,
    TypePairRule,
    biored_metrics,
    candidate_pairs,
    corpus_counts,
    known_pairs_accuracy,
    labelled_pairs,
    litcoin_biored_overlap,
    read_litcoin,
    read_pubtator,
    relation_scores,
    write_litcoin_submission,
    write_pubtator,
)

TITLE = "BRCA1 c.5382insC in breast cancer."
ABSTRACT = "Tamoxifen lowers risk of breast cancer in carriers of the BRCA1 variant; ovarian cancer too."
TEXT = f"{TITLE} {ABSTRACT}"


def _span(word: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = TEXT.index(word, start + 1)
    return start, start + len(word)


def _mline(word: str, type_: str, ids: str, nth: int = 0, doc: str = "111") -> str:
    a, b = _span(word, nth)
    return f"{doc}\t{a}\t{b}\t{word}\t{type_}\t{ids}"


GOOD = "\n".join([
    f"111|t|{TITLE}",
    f"111|a|{ABSTRACT}",
    _mline("BRCA1", "GeneOrGeneProduct", "672"),
    _mline("c.5382insC", "SequenceVariant", "c|INS|5382|C"),
    _mline("breast cancer", "DiseaseOrPhenotypicFeature", "D001943"),
    _mline("Tamoxifen", "ChemicalEntity", "D013629"),
    _mline("breast cancer", "DiseaseOrPhenotypicFeature", "D001943", nth=1),
    _mline("BRCA1", "GeneOrGeneProduct", "672", nth=1),
    _mline("ovarian cancer", "DiseaseOrPhenotypicFeature", "D010051,D001943"),
    "111\tAssociation\tD001943\tc|INS|5382|C\tNovel",
    "111\tNegative_Correlation\tD013629\tD001943\tNo",
    "111\tAssociation\t672\tD010051\tNo",
    "",
]) + "\n"


def _write(tmp_path: Path, text: str, name: str = "x.PubTator") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_reads_with_variant_ids_and_id_lists(tmp_path: Path) -> None:
    result = read_pubtator(_write(tmp_path, GOOD))
    assert result.problems == ()
    (doc,) = result.documents
    assert doc.text == TEXT and len(doc.mentions) == 7 and len(doc.relations) == 3
    assert doc.mentions[1].ids == ("c|INS|5382|C",)  # "|" stays inside a variant id
    assert doc.mentions[-1].ids == ("D010051", "D001943")  # "," splits an id list
    assert all(TEXT[m.start:m.end] == m.text for m in doc.mentions)
    assert doc.relations[0].novel is True and doc.relations[1].novel is False
    assert corpus_counts(result.documents) == {"documents": 1, "mentions": 7, "relations": 3, "novel": 1,
                                               "candidate_pairs": 10}


def test_id_separator_is_a_parameter(tmp_path: Path) -> None:
    (doc,) = read_pubtator(_write(tmp_path, GOOD), id_separators="|", strict=False).documents
    assert doc.mentions[1].ids == ("c", "INS", "5382", "C")


@pytest.mark.parametrize(("bad_line", "message"), [
    ("111\t10\t500\tcancer\tDiseaseOrPhenotypicFeature\tD009369", "past the text"),
    ("111\t0\t5\tBRCA2\tGeneOrGeneProduct\t675", "differs from the text slice"),
    ("111\tAssociation\t672\tD999999\tNo", "no mention carries"),
    ("111\t0\t5\tBRCA1\tGeneOrGeneProduct", "5 tab-separated columns in a mention line"),
    ("111\t0\t5\tBRCA1\tGeneOrGeneProduct\t672\textra", "7 tab-separated columns"),
    ("111\tx\t5\tBRCA1\tGeneOrGeneProduct\t672", "not integers"),
])
def test_bad_pubtator_lines_are_reported_with_file_and_line(tmp_path: Path, bad_line: str, message: str) -> None:
    lines = GOOD.rstrip("\n").split("\n")
    lines.insert(5, bad_line)  # line 6 of the file
    path = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(BioREDFormatError) as info:
        read_pubtator(path)
    assert isinstance(info.value, CourseError)
    assert f"{path}:6" in str(info.value) and message in str(info.value) and "111" in str(info.value)
    result = read_pubtator(path, strict=False)
    assert len(result.problems) == 1 and result.problems[0].line == 6 and message in result.problems[0].message


def test_four_column_relation_has_no_novelty(tmp_path: Path) -> None:
    lines = GOOD.rstrip("\n").split("\n")
    lines.append("111\tBind\tD013629\t672")
    (doc,) = read_pubtator(_write(tmp_path, "\n".join(lines) + "\n")).documents
    assert doc.relations[-1] == Relation("Bind", "D013629", "672", None)


def test_writer_round_trips(tmp_path: Path) -> None:
    docs = read_pubtator(_write(tmp_path, GOOD)).documents
    out = write_pubtator(docs, tmp_path / "out" / "copy.PubTator")
    again = read_pubtator(out).documents
    assert again == docs
    assert not list((tmp_path / "out").glob(".*part"))


LITCOIN_ABSTRACTS = f'abstract_id\ttitle\tabstract\n111\t{TITLE}\t"""Quoted"" {ABSTRACT}"\n'


def _litcoin(tmp_path: Path, entity_rows: list[str], relation_rows: list[str]) -> tuple[Path, Path, Path]:
    a = _write(tmp_path, LITCOIN_ABSTRACTS, "abstracts.csv")
    e = _write(tmp_path, "id\tabstract_id\toffset_start\toffset_finish\ttype\tmention\tentity_ids\n"
               + "".join(r + "\n" for r in entity_rows), "entities.csv")
    r = _write(tmp_path, "id\tabstract_id\ttype\tentity_1_id\tentity_2_id\tnovel\n"
               + "".join(r + "\n" for r in relation_rows), "relations.csv")
    return a, e, r


def test_litcoin_reader_offsets_index_title_space_abstract(tmp_path: Path) -> None:
    text = f'{TITLE} "Quoted" {ABSTRACT}'
    t = text.index("Tamoxifen")
    o = text.index("ovarian cancer")
    a, e, r = _litcoin(tmp_path, [f"0\t111\t{t}\t{t + 9}\tChemicalEntity\tTamoxifen\tD013629",
                                  f"1\t111\t{o}\t{o + 14}\tDiseaseOrPhenotypicFeature\tovarian cancer\tD010051;D001943",
                                  "2\t111\t0\t5\tGeneOrGeneProduct\tBRCA1\t672"],
                       ["0\t111\tNegative_Correlation\tD013629\tD001943\tNovel"])
    (doc,) = read_litcoin(a, e, r).documents
    assert doc.abstract.startswith('"Quoted"') and doc.text == text
    assert doc.mentions[1].ids == ("D010051", "D001943")  # ";" splits LitCoin lists
    assert doc.relations == (Relation("Negative_Correlation", "D013629", "D001943", True),)
    out = write_litcoin_submission([doc], tmp_path / "submission.csv")
    assert out.read_text().splitlines()[1] == "0\t111\t0\t5\tGeneOrGeneProduct"


@pytest.mark.parametrize(("entity_row", "relation_row", "file", "message"), [
    ("0\t111\t0\t900\tGeneOrGeneProduct\tBRCA1\t672", None, "entities.csv", "past the text"),
    ("0\t111\t1\t6\tGeneOrGeneProduct\tBRCA1\t672", None, "entities.csv", "differs from the text slice"),
    ("0\t111\t0\t5\tGeneOrGeneProduct\tBRCA1", None, "entities.csv", "6 tab-separated columns"),
    ("0\t111\t0\t5\tGeneOrGeneProduct\tBRCA1\t672", "0\t111\tBind\t672\tD1\tNo", "relations.csv", "no mention carries"),
    ("0\t111\t0\t5\tGeneOrGeneProduct\tBRCA1\t672", "0\t111\tBind\t672\tNo", "relations.csv", "5 tab-separated"),
])
def test_bad_litcoin_rows_are_reported(tmp_path: Path, entity_row: str, relation_row: str | None, file: str,
                                       message: str) -> None:
    a, e, r = _litcoin(tmp_path, [entity_row], [relation_row] if relation_row else [])
    with pytest.raises(BioREDFormatError, match=f"{file}:2 .*{message}"):
        read_litcoin(a, e, r)


def _doc() -> BioDocument:
    m = [EntityMention(0, 1, "a", "GeneOrGeneProduct", ("G1",)), EntityMention(2, 3, "b", "GeneOrGeneProduct", ("G2",)),
         EntityMention(4, 5, "c", "DiseaseOrPhenotypicFeature", ("D1", "D2")),
         EntityMention(6, 7, "d", "ChemicalEntity", ("C1",)), EntityMention(8, 9, "e", "GeneOrGeneProduct", ("G1",))]
    r = [Relation("Association", "G1", "D1", True), Relation("Bind", "C1", "G2", False),
         Relation("Positive_Correlation", "D2", "C1", False)]
    return BioDocument("9", "a b c", "d e", tuple(m), tuple(r))


def test_candidate_pairs_on_a_known_document() -> None:
    doc = _doc()
    pairs = candidate_pairs(doc)
    assert len(pairs) == 10  # 5 distinct ids: G1 G2 D1 D2 C1 -> 5*4/2
    assert ("C1", "G2") in pairs and all(a < b for a, b in pairs)
    labelled = labelled_pairs(doc)
    assert sum(p.relation != NO_RELATION for p in labelled) == 3
    assert sum(p.relation == NO_RELATION for p in labelled) == 7


def _pred(doc: str, a: str, b: str, rel: str, novel: bool | None = None) -> PairExample:
    return PairExample(doc, *sorted((a, b)), "T", "T", rel, novel)


def test_relation_scores_and_biored_metrics_on_a_hand_made_case() -> None:
    gold = [_doc()]
    pred = [_pred("9", "G1", "D1", "Association", True),      # all right
            _pred("9", "C1", "G2", "Bind", True),             # pair + type right, novelty wrong
            _pred("9", "D2", "C1", "Association", False),     # pair right, type wrong
            _pred("9", "G1", "G2", "Association", False),     # invented on a no-relation pair
            _pred("9", "G2", "D2", NO_RELATION)]              # no-relation predictions are not counted
    m = biored_metrics(gold, pred)
    assert (m["entity_pair"].tp, m["entity_pair"].fp, m["entity_pair"].fn) == (3, 1, 0)
    assert (m["pair_type"].tp, m["pair_type"].fp, m["pair_type"].fn) == (2, 2, 1)
    assert (m["pair_type_novelty"].tp, m["pair_type_novelty"].fp, m["pair_type_novelty"].fn) == (1, 3, 2)
    # BC8's fourth: the type-wrong D2-C1 pair still has the right novelty, the Bind pair the wrong one
    assert (m["pair_novelty"].tp, m["pair_novelty"].fp, m["pair_novelty"].fn) == (2, 2, 1)
    assert list(m) == ["entity_pair", "pair_type", "pair_novelty", "pair_type_novelty"]
    assert m["pair_type"].f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    s = relation_scores(gold, pred)
    assert (s.per_type["Association"].tp, s.per_type["Association"].fp, s.per_type["Association"].fn) == (1, 2, 0)
    assert s.per_type["Bind"].f1 == 1.0 and s.per_type["Positive_Correlation"].f1 == 0.0
    assert s.micro_f1 == pytest.approx(m["pair_type"].f1)
    assert s.macro_f1 == pytest.approx((0.5 + 1.0 + 0.0) / 3)  # over the gold types present


def test_macro_runs_over_gold_types_only() -> None:
    gold = [_doc()]
    pred = [_pred("9", "G1", "D1", "Association"), _pred("9", "C1", "G2", "Bind"),
            _pred("9", "D2", "C1", "Positive_Correlation"), _pred("9", "G1", "G2", "Conversion")]
    s = relation_scores(gold, pred)
    assert s.per_type["Conversion"].support == 0
    assert s.macro_f1 == 1.0 and s.micro.fp == 1


def test_type_pair_rule_and_what_known_pair_accuracy_hides() -> None:
    doc = _doc()
    pairs = labelled_pairs(doc)
    seed = TypePairRule(include_none=False).fit(pairs)
    predicted = seed.predict(pairs)
    acc = known_pairs_accuracy(pairs, {(p.doc_id, p.id1, p.id2): p.relation for p in predicted})
    assert acc == pytest.approx(3 / 3)  # each type pair has one relation: perfect on the known pairs
    scores = relation_scores([doc], predicted)
    assert scores.micro.tp == 3 and scores.micro.fp > 0 and scores.micro.precision < 1.0
    honest = TypePairRule(include_none=True).fit(pairs)
    assert honest.table[("GeneOrGeneProduct", "GeneOrGeneProduct")] == NO_RELATION


def test_overlap_counts() -> None:
    o = litcoin_biored_overlap(["1", "2", "3"], ["4", "5"], ["1", "4"], ["2", "9"])
    assert (o.found, o.train_found, o.test_found, o.train_in_dev) == (3, 2, 1, 1)


def test_biored_disease_rows_for_linking_keep_single_id_diseases_and_skip_excluded_documents(tmp_path: Path) -> None:
    from course_utils.ie.linking.data import biored_disease_rows

    path = _write(tmp_path, GOOD)
    rows = biored_disease_rows([path])
    assert rows == [("breast cancer", "D001943"), ("breast cancer", "D001943")]  # the two-id mention is left out
    assert biored_disease_rows([path], exclude_documents={"111"}) == []


@pytest.mark.parametrize(("column", "value", "message"), [
    (1, "Asociation", "relation type 'Asociation' is not one of Association, Positive_Correlation"),
    (4, "Nvel", "novelty 'Nvel' is not one of Novel, No"),
])
def test_unknown_relation_labels_are_problems_not_classes(tmp_path: Path, column: int, value: str,
                                                          message: str) -> None:
    lines = ["7|t|Tamoxifen and cancer.", "7|a|Tamoxifen reduces cancer.",
             "7\t0\t9\tTamoxifen\tChemicalEntity\tC1", "7\t14\t20\tcancer\tDiseaseOrPhenotypicFeature\tD1",
             "7\tNegative_Correlation\tC1\tD1\tNovel"]
    cols = lines[4].split("\t")
    cols[column] = value
    lines[4] = "\t".join(cols)
    file = tmp_path / "x.PubTator"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_pubtator(file, strict=False)
    assert len(result.problems) == 1
    assert str(result.problems[0]).startswith(f"{file}:5 (document 7): {message}")
    assert result.documents[0].relations == ()  # skipped, never a new relation type
    with pytest.raises(BioREDFormatError, match=f"x.PubTator:5 .*{value}"):
        read_pubtator(file)
    if column == 1:  # another corpus's labels: the allowed set is a parameter
        assert read_pubtator(file, relation_types=None).documents[0].relations[0].type == value


def test_unknown_entity_type_and_empty_file(tmp_path: Path) -> None:
    file = tmp_path / "e.PubTator"
    file.write_text("7|t|BRCA1 here.\n7|a|x\n7\t0\t5\tBRCA1\tGeneProduct\tG1\n", encoding="utf-8")
    with pytest.raises(BioREDFormatError, match="e.PubTator:3 .*entity type 'GeneProduct' is not one of GeneOrGene"):
        read_pubtator(file)
    (tmp_path / "empty.PubTator").write_text("\n\n", encoding="utf-8")
    with pytest.raises(BioREDFormatError, match="no document in the file"):
        read_pubtator(tmp_path / "empty.PubTator")
    with pytest.raises(BioREDFormatError, match="not found"):
        read_pubtator(tmp_path / "missing.PubTator")
