"""Fast checks of the lab rehearsal's builders (tests/rehearsal): stand-ins, manifests, fixtures in the manifests'
formats. The rehearsal itself is tests/test_lab_rehearsal.py (marker lab_rehearsal)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rehearsal.datasets import _write_mayosrs, _write_umnsrs, place, rehearsal_manifests
from rehearsal.standins import STANDIN_MODELS, build_standins


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_standins(tmp_path_factory.mktemp("standins"))


def test_standins_hold_exactly_their_manifests_files(built):
    from course_utils.data import load_manifest

    for name in STANDIN_MODELS:
        assert sorted(p.name for p in built[name].iterdir()) == sorted(f.filename for f in load_manifest(name).files)


def test_standins_load_as_the_real_models_do(built):
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer, BertModel

    for name in STANDIN_MODELS:
        tokenizer = AutoTokenizer.from_pretrained(str(built[name]))
        assert type(tokenizer).__name__ in {"BertTokenizerFast", "BertTokenizer"} and tokenizer.is_fast
        # bert-base's special tokens at bert-base's ids, in both vocabularies
        assert [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id,
                tokenizer.mask_token_id] == [0, 100, 101, 102, 103]
        assert isinstance(AutoModel.from_pretrained(str(built[name])), BertModel)
        if name != "sapbert":
            model = AutoModelForMaskedLM.from_pretrained(str(built[name]))
            assert model.config.architectures == ["BertForMaskedLM"]
    chinese = AutoTokenizer.from_pretrained(str(built["bert_base_chinese"]))
    assert chinese.tokenize("患者，血糖。") == ["患", "者", "，", "血", "糖", "。"]  # one piece per character
    assert chinese.tokenize("hba1c") == ["h", "##b", "##a", "##1", "##c"]
    uncased = AutoTokenizer.from_pretrained(str(built["biomedbert"]))
    assert uncased.tokenize("COVID-19") == ["co", "##vid", "-", "19"]


def test_rehearsal_manifests_unpin_only_what_differs(built, tmp_path):
    from course_utils.data import load_manifest

    folder = rehearsal_manifests(tmp_path / "manifests", built)
    pinned = {f.filename for f in load_manifest("bert_base_uncased", folder).files if f.checksum}
    assert pinned == {"vocab.txt", "tokenizer_config.json"}  # byte-identical to bert-base-uncased's own files
    assert not any(f.checksum or f.size for f in load_manifest("bert_base_chinese", folder).files)
    # every other manifest is a byte copy
    original = load_manifest("disease_vocab")
    assert load_manifest("disease_vocab", folder) == original


def test_similarity_fixtures_in_the_manifests_formats_read_back(tmp_path):
    from course_utils.text.readers import read_similarity_set

    rows = [("renal failure", "kidney failure", "1565.25"), ("Fever", "pyrexia", "3.5")]
    umnsrs = _write_umnsrs(tmp_path / "umnsrs", {"UMNSRS_similarity.csv": rows})
    header = (umnsrs / "UMNSRS_similarity.csv").read_text().splitlines()[0]
    assert header == '"Mean","Stdev","Term1","Term2","CUI1","CUI2"'
    assert read_similarity_set(umnsrs / "UMNSRS_similarity.csv") == [
        ("renal failure", "kidney failure", 1565.25), ("fever", "pyrexia", 3.5)]
    mayo = _write_mayosrs(tmp_path / "mayosrs", rows, rows[:1])
    assert (mayo / "MayoSRS.terms").read_text().splitlines()[0] == "renal failure<>kidney failure"
    assert read_similarity_set(mayo / "MayoSRS.gold") == [
        ("renal failure", "kidney failure", 1565.25), ("fever", "pyrexia", 3.5)]


def test_place_writes_the_lock_and_the_marker_last(tmp_path):
    import json

    source = tmp_path / "src"
    source.mkdir()
    (source / "metadata.csv").write_text("cord_uid,title,abstract\na,T,A\n")
    folder = place("cord19", source, tmp_path / "data", "a test")
    lock = json.loads((tmp_path / "data" / "checksums.lock").read_text())
    assert lock["cord19/metadata.csv"]["sha256"] == hashlib.sha256((source / "metadata.csv").read_bytes()).hexdigest()
    assert json.loads((folder / ".course-complete").read_text())["rehearsal"] == "a test"


@pytest.mark.real_data
def test_real_similarity_pairs_reformatted_keep_every_pair(real_data, tmp_path):
    from course_utils.text.readers import read_similarity_set
    from rehearsal.datasets import _real_sources

    sources = _real_sources(real_data, tmp_path)
    assert len(read_similarity_set(sources["umnsrs"][0] / "UMNSRS_similarity.csv")) == 566
    assert len(read_similarity_set(sources["umnsrs"][0] / "UMNSRS_relatedness.csv")) == 587
    assert len(read_similarity_set(sources["mayosrs"][0] / "MayoSRS.gold")) == 101
