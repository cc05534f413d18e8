"""Real-data tests of chapter 7's readers and tokenizers on COURSE_REAL_DATA (skipped when it is unset)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from course_utils.data import load_manifest, verify
from course_utils.text.readers import (
    read_cord19_metadata,
    read_litcoin_abstracts,
    read_pubtator,
    read_similarity_set,
    real_abstracts,
    similarity_sets,
)
from course_utils.text.tokenizers import count_cut_words, wordpiece_tokenize_batch, wordpiece_tokenizer

pytestmark = pytest.mark.real_data


def test_cord19_sample_known_figures(real_data: Path) -> None:
    meta = read_cord19_metadata(real_data / "cord19_sample" / "metadata_subset_small.csv")
    assert meta.n_rows == 2000 and len(meta.documents) == 2000
    assert meta.n_empty_abstracts == 86 and meta.n_empty_titles == 0
    assert meta.n_duplicate_ids == 0 and meta.n_duplicate_dois == 0  # the sample has no doi column
    # 3,068,947 = characters of title + abstract summed over rows, without the seed's joining space
    assert meta.n_characters == 3_068_947
    assert meta.n_with_entities == 0 and meta.n_with_crlf == 0  # none of the seed's defects (its README)
    text = " ".join(d.text for d in meta.documents)
    for absent in ("SARS-CoV-2", "COVID-19", "2019-nCoV", "hydroxychloroquine"):
        assert absent not in text  # pre-COVID literature


def test_the_seeds_chunks_cut_thousands_of_words_in_the_sample(real_data: Path) -> None:
    meta = read_cord19_metadata(real_data / "cord19_sample" / "metadata_subset_small.csv")
    seed_file = "\n".join(d.title + "\n" + (d.abstract or " ") for d in meta.documents)  # one field a line
    assert len(seed_file) == 3_073_032
    assert count_cut_words(seed_file, 512) == 4059  # of 6,003 chunks


def test_wordpiece_on_the_sample(real_data: Path) -> None:
    meta = read_cord19_metadata(real_data / "cord19_sample" / "metadata_subset_small.csv")
    pieces = wordpiece_tokenize_batch([d.text for d in meta.documents], wordpiece_tokenizer())
    counts = Counter(p for doc in pieces for p in doc)
    assert sum(counts.values()) == 663_583
    assert counts["[UNK]"] == 68
    assert sum(v for k, v in counts.items() if k.startswith("##")) == 118_870  # continuation pieces
    assert counts["virus"] == 2071 and counts["influenza"] == 1718  # whole words of the vocabulary


def test_other_readers_document_counts(real_data: Path) -> None:
    assert len(read_pubtator(real_data / "biored" / "Train.PubTator")) == 400
    assert len(read_pubtator(real_data / "biored" / "Dev.PubTator")) == 100
    ncbi = read_pubtator(real_data / "ncbi_disease" / "NCBItrainset.txt")
    assert len(ncbi) == 593 and len({d.doc_id for d in ncbi}) == 592  # one PMID twice in the train file
    assert len(read_pubtator(real_data / "ncbi_disease" / "NCBIdevelopset.txt")) == 100
    assert len(read_litcoin_abstracts(real_data / "litcoin" / "abstracts_train.csv")) == 400
    assert len(read_litcoin_abstracts(real_data / "litcoin" / "abstracts_test.csv")) == 100


def test_plain_text_reader_document_count(real_data: Path) -> None:
    docs = real_abstracts(real_data)
    assert len(docs) == 3070
    assert Counter(d.source for d in docs) == {"cord19": 2000, "ncbi": 584, "biored": 399, "litcoin": 87}
    assert len({d.doc_id for d in docs}) == len(docs)
    everything = real_abstracts(real_data, exclude_eval=False)
    assert len(everything) == 3269


def test_similarity_sets_pair_counts(real_data: Path) -> None:
    sets = similarity_sets(real_data / "word_similarity")
    counts = {name: len(read_similarity_set(path)) for name, path in sets.items()}
    assert counts == {"UMNSRS-sim": 566, "UMNSRS-rel": 587, "MayoSRS": 101, "MiniMayoSRS": 29, "Bio-SimLex": 988}
    assert read_similarity_set(sets["Bio-SimLex"])[0] == ("therapy", "treatment", 9.32)


def test_pinned_manifests_match_the_shared_copies(real_data: Path, tmp_path: Path) -> None:
    report = verify("litcoin", root=real_data / "litcoin")
    assert report.ok, str(report)
    assert sum("sha256 matches" in line for line in report.checked) == 5
    # bio_simlex names the file Bio-SimLex.txt; the shared copy carries a prefix
    folder = tmp_path / "bio_simlex"
    folder.mkdir()
    (folder / "Bio-SimLex.txt").symlink_to(real_data / "word_similarity" / "bio-simlex_Bio-SimLex.txt")
    report = verify("bio_simlex", root=folder)
    assert report.ok and any("sha256 matches" in line for line in report.checked), str(report)
    assert load_manifest("bio_simlex").status == "verified" and load_manifest("litcoin").status == "verified"


def test_word_classes_manifest_checks_hold_on_the_shared_copy(real_data: Path) -> None:
    """data_manifests/word_classes.yaml names every file of the shared wvlib word-classes copy, and its class
    count check (12) holds there; sizes and sha256 stay unpinned (the copy is not stated byte-identical)."""
    folder = real_data / "word_classes"
    report = verify("word_classes", root=folder)
    assert report.ok, str(report)
    assert any("12 by count_files" in line for line in report.checked)
    assert {f.filename for f in load_manifest("word_classes").files} == {p.name for p in folder.iterdir()}


def test_cord19_sample_first_documents_without_reading_the_rest(real_data: Path) -> None:
    path = real_data / "cord19_sample" / "metadata_subset_small.csv"
    first = read_cord19_metadata(path, max_documents=50)
    assert len(first.documents) == 50 and first.n_rows == 50
    assert first.documents == read_cord19_metadata(path).documents[:50]
