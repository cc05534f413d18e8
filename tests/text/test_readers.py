"""Tests of course_utils.text.readers (chapter 7) on crafted files: entities, CRLF, duplicates, bad rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from course_utils.errors import CourseError
from course_utils.text.corpus import synthetic_corpus
from course_utils.text.readers import (
    CorpusReadError,
    clean_text,
    read_cord19_metadata,
    read_litcoin_abstracts,
    read_pubtator,
    read_similarity_set,
    real_abstracts,
    similarity_set_name,
    similarity_sets,
)

HEADER = ["cord_uid", "sha", "source_x", "title", "doi", "abstract", "publish_time"]


def _write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)  # csv's default line terminator is CRLF, like the seed's file
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_clean_text_unescapes_normalises_and_collapses() -> None:
    assert clean_text("range 2&ndash;14 days") == "range 2–14 days"
    assert clean_text("p &lt; 0.05 &amp; more") == "p < 0.05 & more"
    assert clean_text("double &amp;ndash; escaped") == "double – escaped"
    assert clean_text("line one\r\nline two\rthree\n") == "line one line two three"
    assert clean_text("nai\u0308ve\u00a0cells") == "naïve cells"  # NFD -> NFC, no-break space -> space
    assert clean_text("  ") == ""


def test_cord19_reader_cleans_drops_duplicates_and_counts(tmp_path: Path) -> None:
    rows = [
        ["u1", "", "PMC", "SARS-CoV-2 &amp; ACE2", "10.1/A", "Incubation 2&ndash;14 days.\r\nSecond line.", "2020"],
        ["u2", "", "PMC", "Nai\u0308ve cells", "10.1/b", "", "2020"],  # empty abstract kept
        ["u1", "", "PMC", "Duplicate id", "10.1/c", "Dropped.", "2020"],  # same cord_uid
        ["u3", "", "PMC", "Duplicate DOI", "10.1/a", "Dropped too.", "2020"],  # same DOI, other case
        ["u4", "", "PMC", "", "", "", "2020"],  # neither title nor abstract: dropped
        ["u5", "", "PMC", "", "", "Abstract only.", "2020"],
    ]
    meta = read_cord19_metadata(_write_csv(tmp_path / "metadata.csv", rows))
    assert [d.doc_id for d in meta.documents] == ["u1", "u2", "u5"]
    first = meta.documents[0]
    assert first.title == "SARS-CoV-2 & ACE2"
    assert first.abstract == "Incubation 2–14 days. Second line."
    assert meta.documents[1].title == "Naïve cells" and meta.documents[1].abstract == ""
    assert meta.n_rows == 6 and meta.n_duplicate_ids == 1 and meta.n_duplicate_dois == 1
    assert meta.n_empty_rows == 1 and meta.n_empty_abstracts == 2 and meta.n_empty_titles == 2
    assert meta.n_with_entities == 1 and meta.n_with_crlf == 1  # rows, not fields
    assert meta.n_characters == sum(len(d.title) + len(d.abstract) for d in meta.documents)
    assert all(d.source == "cord19" for d in meta.documents)
    assert read_cord19_metadata(tmp_path / "metadata.csv", max_rows=2).n_rows == 2


def test_cord19_reader_needs_its_columns(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "m.csv", [["u1", "t"]], header=["cord_uid", "title"])
    with pytest.raises(CorpusReadError, match=r"m\.csv, line 1: missing required column\(s\) abstract"):
        read_cord19_metadata(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CorpusReadError, match="is empty"):
        read_cord19_metadata(empty)
    with pytest.raises(CourseError, match="fetch cord19"):
        read_cord19_metadata(tmp_path / "absent.csv")


def test_cord19_reader_names_file_and_line_of_a_broken_row(tmp_path: Path) -> None:
    good = ["u1", "", "PMC", "T", "", "A", "2020"]
    path = _write_csv(tmp_path / "meta.csv", [good, ["u2", "", "PMC", "T", "A", "2020"]])  # one field short
    with pytest.raises(CorpusReadError, match=r"meta\.csv, line 3: 6 fields where the header has 7"):
        read_cord19_metadata(path)
    path = _write_csv(tmp_path / "noid.csv", [good, ["", "", "PMC", "T", "", "A", "2020"]])
    with pytest.raises(CorpusReadError, match=r"noid\.csv, line 3: empty cord_uid"):
        read_cord19_metadata(path)
    broken = tmp_path / "quote.csv"
    broken.write_text(",".join(HEADER) + "\n" + ",".join(good) + '\nu3,,PMC,"unclosed title,,A,2020\n')
    with pytest.raises(CorpusReadError, match=r"quote\.csv, line \d+: broken CSV"):
        read_cord19_metadata(broken)


def test_cord19_reader_repairs_the_synthetic_defects(tmp_path: Path) -> None:
    corpus = synthetic_corpus(300, defects=True)
    rows = [[d.doc_id, "", "syn", d.title, "", d.abstract, ""] for d in corpus.documents]
    meta = read_cord19_metadata(_write_csv(tmp_path / "metadata.csv", rows))
    assert meta.n_duplicate_ids == corpus.n_duplicates
    assert len(meta.documents) == 300 - corpus.n_duplicates - meta.n_empty_rows
    text = " ".join(d.text for d in meta.documents)
    assert "&ndash;" not in text and "&amp;" not in text and "\r" not in text and "2–14" in text
    assert meta.n_with_entities > 30 and meta.n_with_crlf > 30


def test_pubtator_and_litcoin_readers(tmp_path: Path) -> None:
    pub = tmp_path / "x.PubTator"
    pub.write_text("1|t|Title one.\n1|a|Abstract &amp; one.\n1\t0\t5\tTitle\tDisease\tD1\n\n"
                   "2|t|Title two.\n2|a|\n\n")
    docs = read_pubtator(pub, source="biored")
    assert [(d.doc_id, d.title, d.abstract, d.source) for d in docs] == [
        ("1", "Title one.", "Abstract & one.", "biored"), ("2", "Title two.", "", "biored")]
    bad = tmp_path / "bad.PubTator"
    bad.write_text("3|a|abstract without title\n")
    with pytest.raises(CorpusReadError, match=r"bad\.PubTator, line 1: abstract of PMID 3"):
        read_pubtator(bad)
    lit = tmp_path / "abstracts_train.csv"
    lit.write_text('abstract_id\ttitle\tabstract\n11\tA "quoted" title\tText, with commas.\n')
    assert [(d.doc_id, d.title, d.abstract) for d in read_litcoin_abstracts(lit)] == [
        ("11", 'A "quoted" title', "Text, with commas.")]
    lit.write_text("abstract_id\ttitle\tabstract\n11\tonly two\n")
    with pytest.raises(CorpusReadError, match="line 2: 2 tab-separated fields"):
        read_litcoin_abstracts(lit)
    lit.write_text("id,title,abstract\n")
    with pytest.raises(CorpusReadError, match="line 1: expected the header"):
        read_litcoin_abstracts(lit)


def test_real_abstracts_deduplicates_by_pmid_and_holds_out_eval(tmp_path: Path) -> None:
    (tmp_path / "biored").mkdir()
    (tmp_path / "litcoin").mkdir()
    (tmp_path / "ncbi_disease").mkdir()
    (tmp_path / "biored" / "Train.PubTator").write_text("1|t|T1\n1|a|A1\n\n2|t|T2\n2|a|A2\n\n")
    (tmp_path / "biored" / "Dev.PubTator").write_text("3|t|T3\n3|a|A3\n\n")
    (tmp_path / "litcoin" / "abstracts_train.csv").write_text("abstract_id\ttitle\tabstract\n2\tT2\tA2\n3\tT3\tA3\n4\tT4\tA4\n")
    (tmp_path / "ncbi_disease" / "NCBItrainset.txt").write_text("4|t|T4\n4|a|A4\n\n5|t|T5\n5|a|A5\n")
    docs = real_abstracts(tmp_path)
    assert [d.doc_id for d in docs] == ["1", "2", "4", "5"]  # 3 is BioRED Dev: held out, also from LitCoin
    assert [d.source for d in docs] == ["biored", "biored", "litcoin", "ncbi"]
    assert [d.doc_id for d in real_abstracts(tmp_path, exclude_eval=False)] == ["1", "2", "3", "4", "5"]
    with pytest.raises(CorpusReadError, match="No real text files"):
        real_abstracts(tmp_path / "nothing")


def test_similarity_reader_and_names(tmp_path: Path) -> None:
    folder = tmp_path / "sets"
    folder.mkdir()
    (folder / "UMNSRS_UMNSRS-sim.txt").write_text("Renal failure\tkidney failure\t1450.5\n\n# note\nheart\tmyocardium\t3\n")
    (folder / "MayoSRS_MiniMayoSRS.txt").write_text("a\tb\t1\n")
    assert read_similarity_set(folder / "UMNSRS_UMNSRS-sim.txt") == [
        ("renal failure", "kidney failure", 1450.5), ("heart", "myocardium", 3.0)]
    assert similarity_set_name("UMNSRS_UMNSRS-rel.txt") == "UMNSRS-rel"
    assert similarity_set_name("MayoSRS_MayoSRS.txt") == "MayoSRS"
    assert similarity_set_name("MayoSRS_MiniMayoSRS.txt") == "MiniMayoSRS"
    assert similarity_set_name("bio-simlex_Bio-SimLex.txt") == "Bio-SimLex"
    assert set(similarity_sets(folder)) == {"UMNSRS-sim", "MiniMayoSRS"}
    bad = folder / "bad.txt"
    bad.write_text("a\tb\n")
    with pytest.raises(CorpusReadError, match=r"bad\.txt, line 1: expected term1<TAB>term2<TAB>score"):
        read_similarity_set(bad)
    bad.write_text("a\tb\thigh\n")
    with pytest.raises(CorpusReadError, match="'high' is not a number"):
        read_similarity_set(bad)


def test_clean_documents_repairs_and_counts() -> None:
    from course_utils.text.corpus import Document
    from course_utils.text.readers import clean_documents

    docs = [Document("1", "T &amp; U", "a\r\nb"), Document("1", "dup", "x"), Document("2", "", " "),
            Document("3", "T3", "")]
    cleaned, counts = clean_documents(docs)
    assert [(d.doc_id, d.title, d.abstract) for d in cleaned] == [("1", "T & U", "a b"), ("3", "T3", "")]
    assert counts == {"duplicates": 1, "empty": 1, "with_entities": 1, "with_crlf": 1}


def test_manifest_formats_umnsrs_csv_and_mayosrs(tmp_path: Path) -> None:
    """The files as data_manifests/umnsrs.yaml and mayosrs.yaml fetch them (cui2vec CSV; .gold + .terms)."""
    from course_utils.text.readers import read_mayosrs, read_umnsrs_csv

    umnsrs = tmp_path / "UMNSRS_similarity.csv"
    umnsrs.write_text('"Mean","Stdev","Term1","Term2","CUI1","CUI2"\n'
                      '279,178.9,"Glaucoma","Fibrillation","C0017601","C0232197"\n'
                      '1239.25,90.5,"Parasitemia","Malaria","C0242723","C0024530"\n'
                      '294.25,191.3,"Zofran","Ipecac Syrup","C0061851","C0022046"\n')
    expected = [("glaucoma", "fibrillation", 279.0), ("parasitemia", "malaria", 1239.25),
                ("zofran", "ipecac syrup", 294.25)]
    assert read_umnsrs_csv(umnsrs) == expected
    assert read_similarity_set(umnsrs) == expected  # dispatched by the suffix
    gold, terms = tmp_path / "MayoSRS.gold", tmp_path / "MayoSRS.terms"
    gold.write_text("4.0<>C0011849<>C0020456\n1.3<>C0027051<>C0042029\n\n2.2<>C0018802<>C0020538\n")
    terms.write_text("Diabetes<>Hyperglycemia\nMyocardial infarction<>Urinary tract infection\n"
                     "Congestive heart failure<>Hypertension\n")
    pairs = [("diabetes", "hyperglycemia", 4.0), ("myocardial infarction", "urinary tract infection", 1.3),
             ("congestive heart failure", "hypertension", 2.2)]
    assert read_mayosrs(gold) == pairs and read_similarity_set(gold) == pairs
    assert similarity_set_name(umnsrs) == "UMNSRS-sim"
    assert similarity_set_name("UMNSRS_relatedness.csv") == "UMNSRS-rel"
    assert similarity_set_name(gold) == "MayoSRS" and similarity_set_name("Bio-SimLex.txt") == "Bio-SimLex"
    terms.write_text("Diabetes<>Hyperglycemia\n")
    with pytest.raises(CorpusReadError, match="has 3 pairs but .*MayoSRS.terms has 1"):
        read_mayosrs(gold)
    terms.write_text("a<>b\nc d\ne<>f\n")
    with pytest.raises(CorpusReadError, match=r"MayoSRS.terms, line 2: expected term1, term2 separated by '<>'"):
        read_mayosrs(gold)
    (tmp_path / "bad.csv").write_text('"Mean","Term1"\n1,a\n')
    with pytest.raises(CorpusReadError, match=r"bad\.csv, line 1: missing required column\(s\) Term2"):
        read_umnsrs_csv(tmp_path / "bad.csv")
    (tmp_path / "bad.csv").write_text('"Mean","Stdev","Term1","Term2","CUI1","CUI2"\nhigh,1,"a","b","C1","C2"\n')
    with pytest.raises(CorpusReadError, match=r"bad\.csv, line 2: the score 'high' is not a number"):
        read_umnsrs_csv(tmp_path / "bad.csv")


def test_read_cord19_metadata_stops_at_max_documents(tmp_path: Path) -> None:
    rows = [[str(i), "", "s", f"Title {i}", "", "" if i == 1 else f"Abstract {i}.", "2020"] for i in range(6)]
    rows[2][3] = rows[2][5] = ""  # an empty row is dropped and does not count
    path = _write_csv(tmp_path / "metadata.csv", rows)
    meta = read_cord19_metadata(path, max_documents=3)
    assert [d.doc_id for d in meta.documents] == ["0", "1", "3"]
    assert meta.n_rows == 4  # parsing stopped there
    assert [d.doc_id for d in read_cord19_metadata(path).documents] == ["0", "1", "3", "4", "5"]


def test_readers_do_not_import_the_corpus_module() -> None:
    """The import circle corpus <-> readers is gone: readers holds Document, corpus re-exports it (issue 29)."""
    import ast
    from pathlib import Path

    import course_utils.text.corpus as corpus
    import course_utils.text.readers as readers

    tree = ast.parse(Path(readers.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module is None
                 for alias in node.names}
    assert "corpus" not in imported and not any(m and m.endswith("corpus") for m in imported)
    assert corpus.Document is readers.Document
    doc = corpus.Document("d1", "A title", "An abstract.", "test")
    assert doc.text == "A title An abstract."
