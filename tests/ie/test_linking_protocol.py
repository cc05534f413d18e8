"""Chapter 14's protocol: no NCBI-disease develop or test abstract in any training set; the folds choose the knobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.ie.linking.data import LinkingDataError, biored_training_rows, held_out_documents


def _doc(pmid: str, disease: str, mesh: str) -> str:
    title = f"{disease} in a family."
    return (f"{pmid}|t|{title}\n{pmid}|a|We studied it.\n"
            f"{pmid}\t0\t{len(disease)}\t{disease}\tDiseaseOrPhenotypicFeature\t{mesh}\n\n")


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    ncbi, biored = tmp_path / "ncbi_disease", tmp_path / "biored"
    ncbi.mkdir()
    biored.mkdir()
    ncbi_doc = "{p}|t|Kidney failure.\n{p}|a|x\n{p}\t0\t14\tKidney failure\tSpecificDisease\tD051437\n\n"
    (ncbi / "NCBIdevelopset.txt").write_text(ncbi_doc.format(p="222"))
    (ncbi / "NCBItestset_corpus.txt").write_text(ncbi_doc.format(p="111"))
    (biored / "Train.PubTator").write_text(_doc("111", "breast cancer", "D001943") + _doc("333", "gout", "D006073"))
    (biored / "Dev.PubTator").write_text(_doc("222", "kidney failure", "D051437") + _doc("444", "asthma", "D001249"))
    return tmp_path


def test_biored_rows_leave_out_ncbi_develop_and_test_abstracts(data):
    rows, held = biored_training_rows(data / "biored", data / "ncbi_disease")
    assert (held.develop, held.test) == ({"222"}, {"111"}) and held.test_file.name == "NCBItestset_corpus.txt"
    assert rows == [("gout", "D006073"), ("asthma", "D001249")]  # 111 (test) and 222 (develop) left out
    rows, _ = biored_training_rows(data / "biored", data / "ncbi_disease", also_exclude={"444"})
    assert rows == [("gout", "D006073")]


def test_without_a_test_file_it_is_said_not_hidden(data):
    (data / "ncbi_disease" / "NCBItestset_corpus.txt").unlink()
    held = held_out_documents(data / "ncbi_disease")
    assert held.test_file is None and held.test == frozenset() and held.all == {"222"}
    (data / "ncbi_disease" / "NCBIdevelopset.txt").unlink()
    with pytest.raises(LinkingDataError, match="No NCBIdevelopset"):
        held_out_documents(data / "ncbi_disease")


def test_every_benchmark_takes_biored_rows_through_the_held_out_filter():
    bench = Path(__file__).resolve().parents[2] / "benchmarks"
    scripts = sorted(bench.glob("ch14_*.py"))
    assert scripts, "no chapter-14 benchmark found in benchmarks/"
    for script in scripts:
        text = script.read_text()
        assert "biored_disease_rows(" not in text, f"{script.name}: use biored_training_rows (NCBI test held out)"
    assert "biored_training_rows" in (bench / "ch14_protocol.py").read_text()
    assert "biored_training_rows" in (bench / "ch14_linking.py").read_text()
    # the benchmark builds its linkers from the command's recipes
    assert "L.build_linker(" in (bench / "ch14_linking.py").read_text()


def test_a_finished_unit_is_read_back_and_never_recomputed(tmp_path: Path):
    import importlib.util
    from types import SimpleNamespace

    import numpy as np

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "ch14_protocol.py"
    spec = importlib.util.spec_from_file_location("ch14_protocol_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = SimpleNamespace(commit="abc1234def", uncommitted_changes=False)
    calls = []

    def compute():
        calls.append(1)
        return {"k": np.array([True, False, True])}

    hits, meta = module._unit(tmp_path, "fold0-x", {"epochs": [1]}, run, compute)
    assert not meta["resumed"] and meta["commit"] == "abc1234def" and len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fold0-x.json"]  # no temporary file left
    again, meta = module._unit(tmp_path, "fold0-x", {"epochs": [1]}, run, compute)
    assert meta["resumed"] and len(calls) == 1 and again["k"].tolist() == [True, False, True]
    with pytest.raises(SystemExit, match="fold0-x.json: made with other settings"):
        module._unit(tmp_path, "fold0-x", {"epochs": [1, 3]}, run, compute)


def _protocol_module():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "ch14_protocol.py"
    spec = importlib.util.spec_from_file_location("ch14_protocol_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_search_steps_join_in_one_table_and_a_tie_keeps_the_first_choice():
    module = _protocol_module()
    first = {"a": {"acc1": 0.85, "folds": [0.86, 0.84]}, "base": {"acc1": 0.84, "folds": [0.85, 0.83]}}
    second = {"b": {"acc1": 0.85, "folds": [0.85, 0.85]}, "base": {"acc1": 0.84, "folds": [0.85, 0.83]}}
    table, again = module._join(first, "step1", second, "step2")
    assert list(table) == ["a", "base", "b"] and again == {"base": 0.0}
    assert table["a"]["record"] == "step1" and table["base"]["record"] == "step2" and table["b"]["record"] == "step2"
    assert module._best({k: v for k, v in table.items() if k != "base"}) == "a"  # a tie keeps the first step's choice
    with pytest.raises(SystemExit, match="base differs from step1 by 0.0100"):
        module._join(first, "step1", {"base": {"acc1": 0.85, "folds": [0.86, 0.84]}}, "step2")
