"""Chapter 14's readers on the real NCBI-disease corpus and disease vocabulary (COURSE_REAL_DATA)."""

from __future__ import annotations

import pytest

from course_utils.ie.linking.data import id_report, read_disease_vocab, read_ncbi_disease

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def corpus(real_data):
    train = read_ncbi_disease(real_data / "ncbi_disease" / "NCBItrainset.txt")
    develop = read_ncbi_disease(real_data / "ncbi_disease" / "NCBIdevelopset.txt")
    return train, develop, read_disease_vocab(real_data / "disease_vocab")


def test_mention_and_document_counts_equal_the_readme(corpus):
    (train_texts, train, _), (dev_texts, dev, _), _ = corpus
    assert (len(train_texts), len(train)) == (592, 5145)
    assert (len(dev_texts), len(dev)) == (100, 787)


def test_stray_space_ids_are_counted_not_fatal(corpus):
    (_, train, train_stripped), (_, dev, dev_stripped), _ = corpus
    assert (train_stripped, dev_stripped) == (2, 1)
    assert any(m.raw_ids == "OMIM:106210 " and m.ids == ("OMIM:106210",) for m in train)
    assert any(m.raw_ids == " D008661" and m.ids == ("D008661",) for m in dev)


def test_vocabulary_counts_and_coverage_equal_the_readme(corpus):
    (_, train, n_train), (_, dev, n_dev), vocab = corpus
    concepts = vocab.concepts
    assert len(concepts) == 20_405
    assert sum(len(names) == 1 for names in concepts.values()) == 20_151
    # README: 98.5% of train mentions' ids and 99.1% of develop's (all ids of a mention covered)
    tr, dv = id_report(train, vocab, n_train), id_report(dev, vocab, n_dev)
    assert round(100 * tr.n_covered_all / tr.n_mentions, 1) == 98.5
    assert round(100 * dv.n_covered_all / dv.n_mentions, 1) == 99.1


def test_the_benchmark_task_on_real_data(real_data):
    from course_utils.ie.linking.data import ncbi_task

    task = ncbi_task(real_data / "ncbi_disease" / "NCBItrainset.txt", real_data / "ncbi_disease" / "NCBIdevelopset.txt",
                     real_data / "disease_vocab", abbreviations=True)
    assert len(task.queries) == 787 and len(task.vocabulary_only) == 20_734
    assert task.dictionary.sources[0] == "train mentions"  # training mentions first: they win ties
    assert len(task.dictionary) > len(task.vocabulary_only) + 1000
    # the options: mentions as written, and composite training mentions left out of the dictionary
    raw = ncbi_task(real_data / "ncbi_disease" / "NCBItrainset.txt", real_data / "ncbi_disease" / "NCBIdevelopset.txt",
                    real_data / "disease_vocab", abbreviations=False, composites=False)
    changed = sum(a != b for a, b in zip(task.queries, raw.queries))
    assert 100 < changed < 200  # develop mentions holding a short form its abstract defines
    assert "WAS" in raw.queries and "Wiskott-Aldrich syndrome" in task.queries
    assert len(raw.dictionary) < len(task.dictionary) and raw.train_rows != ()
    # each task carries the other form of every query, and the ids its training annotations use
    assert task.variants == raw.queries and raw.variants == task.queries
    assert "SJS" in raw.queries and "Schwartz-Jampel syndrome" in raw.variants  # "(SJS; chondrodystrophic ...)"
    assert raw.known_ids == task.known_ids and "D003924" in raw.known_ids and len(raw.known_ids) == 647
    # short forms the abstract never defines, read off the document's other mentions ("IDDM" x 7, "GLD", ...)
    undefined = [v for q, v in zip(raw.queries, raw.variants) if q == "IDDM"]
    assert undefined == ["insulin-dependent diabetes mellitus"] * 7
    assert sum(a != b for a, b in zip(raw.queries, raw.variants)) == 186  # 170 by definitions + 16 by mentions
    # two develop abstracts cite an OMIM id: "(OMIM 145001)" and "McK 255, 800"
    assert sum(bool(c) for c in raw.cited) == 48 and set().union(*raw.cited) == {"OMIM:145001", "OMIM:255800"}
