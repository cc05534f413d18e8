"""Chapter 13 on the real BioRED and LitCoin files (COURSE_REAL_DATA): counts and overlaps equal the README's.

Counts and scores only: no abstract text is printed or stored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.ie.biored import (
    TypePairRule,
    biored_metrics,
    corpus_counts,
    known_pairs_accuracy,
    labelled_pairs,
    litcoin_biored_overlap,
    read_litcoin,
    read_pubtator,
    relation_scores,
)

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def biored(real_data: Path):
    folder = real_data / "biored"
    if not folder.is_dir():
        pytest.skip("no biored folder in COURSE_REAL_DATA")
    return read_pubtator(folder / "Train.PubTator"), read_pubtator(folder / "Dev.PubTator")


@pytest.fixture(scope="module")
def litcoin(real_data: Path):
    folder = real_data / "litcoin"
    if not folder.is_dir():
        pytest.skip("no litcoin folder in COURSE_REAL_DATA")
    train = read_litcoin(folder / "abstracts_train.csv", folder / "entities_train.csv", folder / "relations_train.csv")
    return train, read_litcoin(folder / "abstracts_test.csv")


def test_biored_counts_equal_the_readme(biored, real_data: Path) -> None:
    train, dev = biored
    assert train.problems == () and dev.problems == ()
    t, d = corpus_counts(train.documents), corpus_counts(dev.documents)
    assert (t["documents"], t["mentions"], t["relations"]) == (400, 13351, 4178)
    assert (d["documents"], d["mentions"], d["relations"]) == (100, 3533, 1162)
    ids = (real_data / "biored" / "Train.ids").read_text().split()
    assert sorted(ids) == sorted(doc.doc_id for doc in train.documents)
    types = {m.type for doc in train.documents for m in doc.mentions}
    assert len(types) == 6
    assert len({r.type for doc in train.documents for r in doc.relations}) == 8
    dev_types = {r.type for doc in dev.documents for r in doc.relations}
    assert "Conversion" not in dev_types and "Drug_Interaction" not in dev_types


def test_litcoin_counts_equal_the_readme(litcoin) -> None:
    train, test = litcoin
    assert train.problems == () and test.problems == ()
    c = corpus_counts(train.documents)
    assert (c["documents"], c["mentions"], c["relations"], len(test.documents)) == (400, 13636, 4280, 100)


def test_overlaps(biored, litcoin) -> None:
    (train, dev), (lit_train, lit_test) = biored, litcoin
    o = litcoin_biored_overlap([d.doc_id for d in lit_train.documents], [d.doc_id for d in lit_test.documents],
                               [d.doc_id for d in train.documents], [d.doc_id for d in dev.documents])
    assert (o.found, o.train_found, o.test_found, o.train_in_dev) == (413, 330, 83, 66)


def test_what_known_pair_accuracy_hides_on_biored_dev(biored) -> None:
    """The type-pair rule in the seed's setting: about the seed's accuracy on known pairs, far lower F1 on all pairs."""
    train, dev = biored
    train_pairs = [p for d in train.documents for p in labelled_pairs(d)]
    dev_pairs = [p for d in dev.documents for p in labelled_pairs(d)]
    assert len(dev_pairs) == 8917
    rule = TypePairRule(include_none=False).fit(train_pairs)
    predicted = rule.predict(dev_pairs)
    accuracy = known_pairs_accuracy(dev_pairs, {(p.doc_id, p.id1, p.id2): p.relation for p in predicted})
    scores = relation_scores(dev_pairs, predicted)
    metrics = biored_metrics(dev_pairs, predicted)
    assert accuracy == pytest.approx(0.538, abs=0.002)
    assert scores.micro_f1 == pytest.approx(0.160, abs=0.002)
    assert metrics["pair_type"].precision < 0.1
    assert metrics["entity_pair"].recall == 1.0  # the rule names a relation for every pair of a seen type pair
    assert metrics["pair_type"].recall == pytest.approx(accuracy)  # one relation per pair: accuracy is recall


def test_part_of_no_relation_is_structural(biored) -> None:
    """A quarter of BioRED's candidate pairs lie in entity-type pairs that no Train relation ever joins."""
    from course_utils.ie.relations.explore import annotated_type_pairs, pair_structure

    train, dev = biored
    annotated = annotated_type_pairs(train.documents)
    assert len(annotated) == 9
    assert not any(t in ("OrganismTaxon", "CellLine") for pair in annotated for t in pair)
    assert ("DiseaseOrPhenotypicFeature", "DiseaseOrPhenotypicFeature") not in annotated
    table = pair_structure({"train": train.documents, "dev": dev.documents}, annotated)
    assert round(table.loc["train", "candidate_pairs"] * table.loc["train", "unannotated_type_pair_share"]) == 7934
    assert round(table.loc["dev", "candidate_pairs"] * table.loc["dev", "unannotated_type_pair_share"]) == 2258
    assert table.loc["train", "no_relation_share"] == pytest.approx(0.865, abs=0.0005)
    assert table.loc["train", "no_relation_share_annotated_types"] == pytest.approx(0.818, abs=0.0005)
    assert table.loc["dev", "no_relation_share_annotated_types"] == pytest.approx(0.826, abs=0.0005)
    assert (table.loc["train", "self_relations"], table.loc["dev", "self_relations"]) == (3, 1)


def test_unknown_labels_in_real_files_are_errors(biored, real_data: Path, tmp_path: Path) -> None:
    """A misspelt relation type in a copy of Dev stops the reader at its line (no new class is invented)."""
    from course_utils.ie.biored import BioREDFormatError

    lines = (real_data / "biored" / "Dev.PubTator").read_text(encoding="utf-8").split("\n")
    index = next(i for i, line in enumerate(lines) if line.split("\t")[1:2] == ["Association"])
    lines[index] = lines[index].replace("\tAssociation\t", "\tAsociation\t", 1)
    (tmp_path / "dev.PubTator").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(BioREDFormatError, match=rf"dev.PubTator:{index + 1} .*'Asociation' is not one of"):
        read_pubtator(tmp_path / "dev.PubTator")
