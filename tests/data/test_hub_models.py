"""Hub models through their manifests, against a loopback server standing in for the hub (``HF_ENDPOINT``).

A tiny BERT written here with transformers is served under ``/<org>/<name>/resolve/<revision>/<file>``: good files
download, verify and load; tampered ones are refused; an interrupted download leaves nothing half-written and
resumes; offline the error names the manifest and the fetch command; the Hugging Face cache is used when it
holds the pinned revision.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from course_utils.data import (
    COMPLETE_MARKER,
    fetch,
    hf_hub_cache,
    hub_file_url,
    load_manifest,
    recorded_checksums,
    verify,
)
from course_utils.errors import DownloadError, IntegrityError, ManifestError
from course_utils.text import pretrained as P

from .conftest import sha256

ORG_NAME = "test-org/tiny-bert"
REV = "0123456789abcdef0123456789abcdef01234567"
FILES = ("config.json", "vocab.txt", "pytorch_model.bin")  # BiomedBERT's layout: no tokenizer files
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "patient", "has", "fever", "acute", "kidney",
         "injury", "renal", "failure", "##s", "a"]
SENTENCE = "The Patient has FEVER and acute kidney injurys"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> dict[str, bytes]:
    """The files of a tiny random BERT (1 layer x 16) as BiomedBERT's repository holds them."""
    import torch
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=4096)  # ~290 kB: several chunks
    model = BertModel(config).eval()
    model.save_pretrained(folder)  # config.json (+ model.safetensors, replaced by the pickled state dict below)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return {name: (folder / name).read_bytes() for name in FILES}


@pytest.fixture
def hub(server, manifests, tiny_model, tmp_path, monkeypatch):
    """The loopback hub serving the tiny model, HF_ENDPOINT pointed at it, an empty HF cache of the test's own."""
    for name, body in tiny_model.items():
        server.add(f"/{ORG_NAME}/resolve/{REV}/{name}", body)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return server


def _manifest(manifests, tiny_model, *, pinned: bool = False, name: str = "tinybert", **extra) -> None:
    entries = [{"filename": f, "size": len(body) if pinned else None,
                "checksum": {"algorithm": "sha256", "value": sha256(body)} if pinned else None}
               for f, body in tiny_model.items()]
    manifests(name, entries, kind="model", status="verified" if pinned else "unverified", hub_id=ORG_NAME,
              revision=REV, layout={"files": list(FILES)}, **extra)


def _path(name: str) -> str:
    return f"/{ORG_NAME}/resolve/{REV}/{name}"


def _half_written(data: Path) -> list[str]:
    return sorted(p.relative_to(data).as_posix() for p in data.rglob("*")
                  if p.name.endswith((".part", ".tmp")) or p.name == COMPLETE_MARKER)


def _reference_vectors(tiny_model, tmp_path, input_ids):
    import torch
    from transformers import BertModel

    folder = tmp_path / "reference"
    folder.mkdir()
    for name, body in tiny_model.items():
        (folder / name).write_bytes(body)
    model = BertModel.from_pretrained(folder, local_files_only=True).eval()
    with torch.inference_mode():
        return model(input_ids=torch.tensor([input_ids])).last_hidden_state[0].numpy()


def test_the_url_follows_hf_endpoint(monkeypatch):
    monkeypatch.delenv("COURSE_MANIFEST_DIR", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    m = load_manifest("biomedbert")
    weights = next(f for f in m.files if f.filename == "pytorch_model.bin")
    assert weights.from_hub and weights.url == (
        "https://huggingface.co/microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext/resolve/"
        "eb7ecc9cf8961e174c3e3ae363d558e659b48fc0/pytorch_model.bin")
    assert hub_file_url(m.hub_id, m.revision, "vocab.txt") == weights.url.replace("pytorch_model.bin", "vocab.txt")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:8123/")
    assert hub_file_url("o/n", "abc", "config.json") == "http://127.0.0.1:8123/o/n/resolve/abc/config.json"
    # every lab/full model is pinned: a hub id, a 40-hex revision, and every file under them
    for name in ("bert_base_uncased", "biomedbert", "bert_base_chinese", "sapbert"):
        m = load_manifest(name)
        assert m.kind == "model" and len(m.revision or "") == 40 and all(f.from_hub for f in m.files)
    assert set(P.model_manifests()) == {"bert_base_uncased", "biomedbert", "bert_base_chinese", "sapbert"}


def test_manifests_that_disagree_with_their_hub_pin_are_refused(manifests):
    manifests("stale", [{"url": f"https://huggingface.co/{ORG_NAME}/resolve/{'f' * 40}/config.json", "size": None,
                         "checksum": None}], kind="model", hub_id=ORG_NAME, revision=REV)
    with pytest.raises(ManifestError, match=r"disagrees with hub_id and revision"):
        load_manifest("stale")
    manifests("nourl", [{"filename": "a.txt", "size": None, "checksum": None}])
    with pytest.raises(ManifestError, match=r"a.txt has no url and the manifest names no hub_id"):
        load_manifest("nourl")
    manifests("unpinned", [{"filename": "a.txt", "size": None, "checksum": None}], kind="model", hub_id=ORG_NAME)
    with pytest.raises(ManifestError, match=r"pins no revision"):
        load_manifest("unpinned")


def test_good_files_download_verify_and_load(hub, manifests, tiny_model, tmp_path):
    import numpy as np
    import torch

    _manifest(manifests, tiny_model)
    with pytest.raises(P.ModelMissingError):
        P.load_encoder("tinybert", device="cpu")  # loading never downloads
    assert hub.log == []
    data = tmp_path / "data"
    assert fetch("tinybert", show_progress=False) == data / "tinybert"
    tokenizer, model = P.load_encoder("tinybert", device="cpu")
    assert P.model_folder("tinybert") == data / "tinybert"
    assert [hub.gets(_path(f)) for f in FILES] == [[None]] * 3  # one plain GET per file, from HF_ENDPOINT
    # the tokenizer built from vocab.txt + config.json alone is BERT's fast, lower-casing WordPiece
    assert tokenizer.is_fast and tokenizer.tokenize(SENTENCE) == [
        "the", "patient", "has", "fever", "[UNK]", "acute", "kidney", "injury", "##s"]
    assert tokenizer.model_max_length == 4096  # from config.json: the folder has no tokenizer_config.json
    ids = tokenizer(SENTENCE)["input_ids"]
    assert ids == [2, 5, 6, 7, 8, 1, 9, 10, 11, 14, 3]  # [CLS] ... [SEP], "and" unknown
    with torch.inference_mode():
        got = model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
    np.testing.assert_allclose(got, _reference_vectors(tiny_model, tmp_path, ids), atol=1e-6)
    # first use recorded what arrived; the manifest (tracked) stays without checksums
    lock = recorded_checksums(data)
    assert {k: v["sha256"] for k, v in lock.items()} == {f"tinybert/{f}": sha256(b) for f, b in tiny_model.items()}
    assert "sha256" not in (tmp_path / "manifests" / "tinybert.yaml").read_text()
    assert json.loads((data / "tinybert" / COMPLETE_MARKER).read_text())["name"] == "tinybert"
    assert _half_written(data) == ["tinybert/" + COMPLETE_MARKER] and verify("tinybert").ok
    P.load_encoder("tinybert", device="cpu")  # a second load: nothing downloaded again
    assert sum(len(hub.gets(_path(f))) for f in FILES) == 3


def test_served_weights_that_differ_from_the_pin_are_refused(hub, manifests, tiny_model, tmp_path):
    _manifest(manifests, tiny_model, pinned=True)
    weights = bytearray(tiny_model["pytorch_model.bin"])
    weights[len(weights) // 2] ^= 0xFF  # same size, one byte changed
    hub.routes[_path("pytorch_model.bin")].body = bytes(weights)
    with pytest.raises(IntegrityError, match=r"checksum of .*pytorch_model\.bin is .* not the "
                                             + sha256(tiny_model["pytorch_model.bin"]) + r".*never used"):
        fetch("tinybert", show_progress=False)
    data = tmp_path / "data"
    assert _half_written(data) == [] and not (data / "tinybert" / "pytorch_model.bin").exists()
    with pytest.raises(P.ModelMissingError, match="fetch tinybert"):
        P.model_folder("tinybert")
    hub.routes[_path("pytorch_model.bin")].body = tiny_model["pytorch_model.bin"]  # the hub is repaired
    fetch("tinybert", show_progress=False)
    assert (P.model_folder("tinybert") / "pytorch_model.bin").read_bytes() == tiny_model["pytorch_model.bin"]
    assert recorded_checksums(data) == {}  # pinned: nothing to record


def test_weights_changed_on_disk_after_download_are_refused(hub, manifests, tiny_model, tmp_path):
    _manifest(manifests, tiny_model)
    fetch("tinybert", show_progress=False)
    folder = P.model_folder("tinybert")
    weights = folder / "pytorch_model.bin"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))
    recorded = sha256(tiny_model["pytorch_model.bin"])
    with pytest.raises(IntegrityError) as caught:
        P.load_encoder("tinybert", device="cpu")
    message = str(caught.value)
    assert str(weights) in message and f"is {sha256(bytes(data))}" in message and f"recorded {recorded}" in message
    assert "checksums.lock" in message and "python -m course_utils.data fetch tinybert" in message
    # a file that shrank is caught by its recorded size before any hashing
    weights.write_bytes(bytes(data[:-10]))
    with pytest.raises(IntegrityError, match=r"pytorch_model\.bin has .* bytes, but .*checksums\.lock recorded"):
        P.model_folder("tinybert")
    assert not verify("tinybert").ok


def test_interrupted_download_leaves_nothing_half_written_and_resumes(hub, manifests, tiny_model, tmp_path):
    _manifest(manifests, tiny_model)
    size = len(tiny_model["pytorch_model.bin"])
    hub.routes[_path("pytorch_model.bin")].cut_after = size // 2  # the connection drops mid-file
    with pytest.raises(DownloadError, match=r"stopped after .* the next attempt resumes.*fetch tinybert"):
        fetch("tinybert", show_progress=False)
    data = tmp_path / "data"
    assert not (data / "tinybert" / "pytorch_model.bin").exists() and not (data / "tinybert" / COMPLETE_MARKER).exists()
    with pytest.raises(P.ModelMissingError, match=r"(?s)tinybert\.yaml pins test-org/tiny-bert at revision "
                                                  + REV + r".*`python -m course_utils.data fetch tinybert`"):
        P.model_folder("tinybert")  # an incomplete folder is not loaded
    part = data / ".downloads" / "tinybert" / "pytorch_model.bin.part"
    kept = part.stat().st_size
    assert 0 < kept <= size // 2 < size  # only beside the target, under .downloads, to resume from
    assert fetch("tinybert", show_progress=False) == data / "tinybert"
    assert hub.gets(_path("pytorch_model.bin")) == [None, f"bytes={kept}-"]  # resumed, not restarted
    assert hub.gets(_path("config.json")) == [None]  # files already in place are not fetched again
    assert (data / "tinybert" / "pytorch_model.bin").read_bytes() == tiny_model["pytorch_model.bin"]
    assert _half_written(data) == ["tinybert/" + COMPLETE_MARKER] and P.model_folder("tinybert")


@pytest.mark.parametrize("flag", ["HF_HUB_OFFLINE", "COURSE_OFFLINE"])
def test_offline_and_absent_names_the_manifest_and_the_command(hub, manifests, tiny_model, tmp_path, monkeypatch,
                                                               flag):
    _manifest(manifests, tiny_model)
    monkeypatch.setenv(flag, "1")
    with pytest.raises(P.ModelMissingError) as caught:
        P.load_tokenizer("tinybert")
    message = str(caught.value)
    assert str(tmp_path / "manifests" / "tinybert.yaml") in message
    assert "`python -m course_utils.data fetch tinybert`" in message and f"{flag} is set" in message
    assert isinstance(caught.value, FileNotFoundError) and "hub's" not in message
    with pytest.raises(DownloadError, match=rf"{flag} is set, so tinybert .*tinybert\.yaml.* cannot be downloaded "
                                            r"and config\.json is not in the Hugging Face cache.*fetch tinybert"):
        fetch("tinybert", show_progress=False)
    assert hub.log == []  # nothing was asked of the hub
    assert not (tmp_path / "data" / "tinybert").exists()


def test_absent_model_is_never_downloaded_at_load_time(hub, manifests, tiny_model, tmp_path):
    _manifest(manifests, tiny_model)
    with pytest.raises(P.ModelMissingError) as caught:
        P.load_encoder("tinybert", device="cpu")
    message = str(caught.value)
    assert f"pins {ORG_NAME} at revision {REV}" in message and str(tmp_path / "manifests" / "tinybert.yaml") in message
    assert "`python -m course_utils.data fetch tinybert`" in message and "Loading never downloads" in message
    assert hub.log == [] and not (tmp_path / "data" / "tinybert").exists()


def test_hub_unreachable_names_the_manifest_and_the_command(manifests, tiny_model, tmp_path, monkeypatch):
    _manifest(manifests, tiny_model)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(DownloadError, match=r"(?s)Cannot reach http://127\.0\.0\.1:9/test-org/tiny-bert/resolve/"
                                            + REV + r"/config\.json.*`python -m course_utils.data fetch tinybert`"):
        fetch("tinybert", show_progress=False)
    assert not (tmp_path / "data" / "tinybert").exists()


def _hf_cache_snapshot(cache: Path, files: dict[str, bytes], repo_id: str = ORG_NAME) -> Path:
    """Lay out files as huggingface_hub caches them: blobs named by sha256, snapshot links, refs/main."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / REV
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REV)
    for name, body in files.items():
        blob = repo / "blobs" / sha256(body)
        blob.write_bytes(body)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / name)
    return snapshot


@pytest.mark.parametrize("offline", [False, True])
def test_the_hf_cache_is_used_with_the_hub_down(manifests, tiny_model, tmp_path, monkeypatch, offline):
    _manifest(manifests, tiny_model)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the hub is down
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert hf_hub_cache() == tmp_path / "hf-home" / "hub"
    _hf_cache_snapshot(hf_hub_cache(), tiny_model)
    folder = fetch("tinybert", show_progress=False)
    assert {f: (folder / f).read_bytes() for f in FILES} == tiny_model
    assert set(recorded_checksums(tmp_path / "data")) == {f"tinybert/{f}" for f in FILES}
    tokenizer, model = P.load_encoder("tinybert", device="cpu")
    assert model.config.hidden_size == 16 and tokenizer.tokenize("Fever") == ["fever"]


def test_loading_fills_the_data_folder_from_the_hf_cache(manifests, tiny_model, tmp_path, monkeypatch):
    _manifest(manifests, tiny_model)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    _hf_cache_snapshot(tmp_path / "hf-cache", tiny_model)
    assert P.model_folder("tinybert") == tmp_path / "data" / "tinybert"  # no fetch needed: the cache holds it
    assert (tmp_path / "data" / "tinybert" / COMPLETE_MARKER).is_file()


def test_the_hf_cache_is_searched_under_a_former_hub_id(hub, manifests, tiny_model, tmp_path):
    # a renamed repository (bert-base-uncased -> google-bert/bert-base-uncased) keeps its commits
    _manifest(manifests, tiny_model, pinned=True, hub_aliases=["old-name/tiny-bert"])
    _hf_cache_snapshot(Path(os.environ["HF_HUB_CACHE"]), tiny_model, "old-name/tiny-bert")
    folder = fetch("tinybert", show_progress=False)
    assert {f: (folder / f).read_bytes() for f in FILES} == tiny_model and hub.log == []


def test_a_damaged_file_in_the_hf_cache_is_downloaded_again(hub, manifests, tiny_model, tmp_path):
    _manifest(manifests, tiny_model, pinned=True)
    damaged = dict(tiny_model, **{"vocab.txt": b"[PAD]\n"})
    _hf_cache_snapshot(Path(os.environ["HF_HUB_CACHE"]), damaged)
    folder = fetch("tinybert", show_progress=False)
    assert (folder / "vocab.txt").read_bytes() == tiny_model["vocab.txt"]
    assert hub.gets(_path("vocab.txt")) == [None] and hub.gets(_path("config.json")) == []


def test_names_that_are_not_model_manifests(monkeypatch, tmp_path, tiny_model):
    monkeypatch.delenv("COURSE_MANIFEST_DIR", raising=False)
    with pytest.raises(P.ModelLoadError, match=r"(?s)not a model the course knows.*minilm, bert_base_chinese, "
                                               r"bert_base_uncased, biomedbert, sapbert.*data_manifests/NAME\.yaml"):
        P.model_folder("microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext")
    with pytest.raises(P.ModelLoadError, match="is a dataset manifest, not a model"):
        P.model_folder("biored")
    own = tmp_path / "my-model"
    own.mkdir()
    for name, body in tiny_model.items():
        (own / name).write_bytes(body)
    assert P.model_folder(str(own)) == own  # a folder of one's own loads as it is
    tokenizer = P.load_tokenizer(str(own))
    assert tokenizer.tokenize("Renal FAILURE") == ["renal", "failure"]
    shutil.rmtree(own)
    with pytest.raises(P.ModelLoadError, match="not an existing folder"):
        P.model_folder(str(own))


def test_a_model_without_any_checksum_to_hold_it_to_is_refused(manifests, tiny_model, tmp_path, monkeypatch):
    # A folder laid out by hand, with neither a pinned checksum nor a value recorded by fetch or stage.
    _manifest(manifests, tiny_model)
    folder = tmp_path / "data" / "tinybert"
    folder.mkdir(parents=True)
    for name, body in tiny_model.items():
        (folder / name).write_bytes(body)
    monkeypatch.setenv("COURSE_DATA_READONLY", "1")
    with pytest.raises(IntegrityError, match=r"cannot be verified.*stage tinybert FOLDER"):
        P.model_folder("tinybert")


def test_download_error_is_not_swallowed_for_datasets(manifests, monkeypatch):
    # Datasets keep the early offline refusal (no Hugging Face cache to look in).
    manifests("plain", [{"url": "http://127.0.0.1:9/plain.txt", "size": None, "checksum": None}])
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(DownloadError, match="COURSE_OFFLINE is set"):
        fetch("plain")
