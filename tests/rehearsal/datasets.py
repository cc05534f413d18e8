"""A ``COURSE_DATA_DIR`` for the lab-path rehearsal of chapters 7-14, laid out as ``python -m course_utils.data
fetch NAME`` lays it out: ``NAME/`` with the manifest's files (archives extracted where the manifest extracts
them), ``checksums.lock`` with the sha256 of every file the manifest pins none for, and ``NAME/.course-complete``
written last.

Where each dataset comes from:

* with ``$COURSE_REAL_DATA`` (a folder like ``../shared/data``): the real files where they are the manifest's own
  format (CORD-19's 2,000-row sample as ``metadata.csv``, BioRED Train/Dev, NCBI-disease train/develop, the disease
  vocabulary, the Ruijin brat files, LitCoin, Bio-SimLex, the word classes), and the real similarity pairs rewritten
  in the manifest's format where the copy there is another format (UMNSRS as cui2vec's CSV, MayoSRS as VCU's
  ``.gold`` / ``.terms`` files);
* without it (a student's clone): small fixtures in each manifest's format made by the course's own generators
  (``text.corpus.synthetic_corpus``, ``ie.synthetic_biored``, ``ie.synthetic_zh``, ``ie.linking_data``), so the
  rehearsal still runs every chapter's lab code path.

A dataset folder that is complete by its manifest (layout, counts, pins) goes through the course's own
``course_utils.data.stage``, which verifies it; one that is knowingly partial (the shared copy lacks BioRED's and
NCBI-disease's test splits, which the chapters never read; 327 of Ruijin's 363 documents; generated fixtures
smaller than the manifest's counts) is placed the way ``fetch`` leaves it, without the count checks, and the
reason is recorded. Nothing of it is ever written outside the folders given; no Ruijin text leaves them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DATASETS", "Staged", "build_data_dir", "rehearsal_manifests"]

#: Every dataset a chapter 7-14 lab path reads (chapter 13 also reads LitCoin when it is present).
DATASETS = ("cord19", "biored", "litcoin", "ncbi_disease", "disease_vocab", "ruijin_diabetes", "umnsrs", "mayosrs",
            "bio_simlex", "word_classes")


@dataclass
class Staged:
    """One dataset or model in the rehearsal's data folder: where its files came from, how it was staged."""

    name: str
    source: str  # "real", "real, reformatted", "fixture", "stand-in"
    verified: bool  # staged through course_utils.data.stage (layout, counts and pins checked)
    note: str = ""


# ------------------------------------------------------------------------------------------------ manifests


def rehearsal_manifests(folder: Path, standins: dict[str, Path]) -> Path:
    """Write a copy of ``data_manifests/`` into ``folder`` and return it. In the manifest of each stand-in model
    (``standins``: name -> the folder of its built files) a file pins no size or checksum when the stand-in's file
    differs from the pinned one (the weights, config.json, tokenizer.json), so it is recorded in ``checksums.lock``
    on staging as any unpinned download is; a file the stand-in shares byte for byte keeps its pin and is verified
    (bert-base-uncased's vocab.txt and tokenizer_config.json). Every other manifest is copied byte for byte. The
    rehearsal points ``COURSE_MANIFEST_DIR`` at the copy: a tiny stand-in can never match the real weights'
    sha256, and this is the one place the rehearsal says so."""
    import yaml

    from course_utils.data import manifest_dir

    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(manifest_dir().glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if path.stem in standins:
            raw = yaml.safe_load(text)
            for entry in raw.get("files", []):
                checksum = entry.get("checksum") or {}
                built = standins[path.stem] / (entry.get("filename") or Path(str(entry.get("url"))).name)
                if (checksum.get("value") and built.is_file() and checksum.get("algorithm", "sha256") == "sha256"
                        and _sha256(built) == checksum["value"]):
                    continue  # the stand-in's file is the real one: keep the pin
                entry["size"] = None
                entry["checksum"] = None
                for key in ("size_source", "checksum_source"):
                    if key in entry:
                        entry[key] = "lab-path rehearsal: a tiny random stand-in; recorded in checksums.lock on staging"
            raw["status"] = "unverified"
            raw["description"] = (f"LAB-PATH REHEARSAL STAND-IN (tests/rehearsal/standins.py) for {raw.get('title')}. "
                                  + str(raw.get("description", "")))
            text = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
        (folder / path.name).write_text(text, encoding="utf-8")
    return folder


# ------------------------------------------------------------------------------------------------ staging


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def place(name: str, source: Path, root: Path, note: str) -> Path:
    """Copy ``source`` into ``root/name`` as ``fetch`` leaves it (unpinned, not extracted files recorded in
    ``checksums.lock``; the marker ``.course-complete`` last), without the manifest's count checks, and return the
    folder. For folders that are knowingly partial; complete ones go through ``course_utils.data.stage``."""
    from course_utils.data import COMPLETE_MARKER, LOCK_FILE, load_manifest

    m = load_manifest(name)
    folder = root / name
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(source, folder)
    lock_path = root / LOCK_FILE
    lock = json.loads(lock_path.read_text()) if lock_path.is_file() else {}
    for spec in m.files:
        path = folder / spec.filename
        if not spec.extract and spec.checksum is None and path.is_file():
            lock[f"{name}/{spec.filename}"] = {"sha256": _sha256(path), "size": path.stat().st_size,
                                               "recorded": time.strftime("%Y-%m-%d")}
    lock_path.write_text(json.dumps(lock, indent=2, sort_keys=True))
    info = {"name": m.name, "title": m.title, "status": m.status, "fetched": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "files": [f.filename for f in m.files], "rehearsal": note}
    (folder / COMPLETE_MARKER).write_text(json.dumps(info, indent=2))
    return folder


def _stage(name: str, source: Path, root: Path) -> Path:
    from course_utils.data import stage

    return stage(name, source, root=root, show_progress=False)


# ------------------------------------------------------------------------------------------------ real files


def _copy(files: dict[str, Path], target: Path) -> Path:
    for relative, src in files.items():
        dst = target / relative
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)  # a copy, never a link: the course resolves paths
    return target


def _similarity_rows(path: Path) -> list[tuple[str, str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            a, b, score = line.split("\t")
            rows.append((a, b, score))
    return rows


def _cui(term: str) -> str:
    # A placeholder in CUI form (C + 7 digits), the same for the same term; not a real UMLS identifier.
    return "C9" + str(int(hashlib.sha256(term.encode()).hexdigest(), 16) % 10**6).zfill(6)


def _write_umnsrs(target: Path, sets: dict[str, list[tuple[str, str, str]]]) -> Path:
    """UMNSRS as cui2vec's CSVs (written by R: quoted header and strings, bare numbers): Mean, Stdev, Term1, Term2,
    CUI1, CUI2 (Stdev 0 and placeholder CUIs where the source has none)."""
    target.mkdir(parents=True, exist_ok=True)
    for filename, rows in sets.items():
        with open(target / filename, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
            writer.writerow(["Mean", "Stdev", "Term1", "Term2", "CUI1", "CUI2"])
            for a, b, score in rows:
                writer.writerow([float(score), 0.0, a, b, _cui(a), _cui(b)])
    return target


def _write_mayosrs(target: Path, mayo: list[tuple[str, str, str]], mini: list[tuple[str, str, str]]) -> Path:
    """MayoSRS as VCU's files: ``.gold`` score<>CUI1<>CUI2 and ``.terms`` term1<>term2, one pair a line, zipped;
    MiniMayoSRS's ``.physicians`` and ``.coders`` in the ``.gold`` form (both the mean the source gives)."""
    target.mkdir(parents=True, exist_ok=True)

    def gold(rows: list[tuple[str, str, str]]) -> str:
        return "".join(f"{s}<>{_cui(a)}<>{_cui(b)}\n" for a, b, s in rows)

    def terms(rows: list[tuple[str, str, str]]) -> str:
        return "".join(f"{a}<>{b}\n" for a, b, _ in rows)

    (target / "MayoSRS.gold").write_text(gold(mayo), encoding="utf-8")
    (target / "MayoSRS.terms").write_text(terms(mayo), encoding="utf-8")
    (target / "MiniMayoSRS.terms").write_text(terms(mini), encoding="utf-8")
    (target / "MiniMayoSRS.physicians").write_text(gold(mini), encoding="utf-8")
    (target / "MiniMayoSRS.coders").write_text(gold(mini), encoding="utf-8")
    return target


def _real_sources(real: Path, scratch: Path) -> dict[str, tuple[Path, str, bool, str]]:
    """Return ``{name: (folder, source, complete, note)}`` built from the real files under ``real``."""
    sim = real / "word_similarity"
    out: dict[str, tuple[Path, str, bool, str]] = {}
    out["cord19"] = (_copy({"metadata.csv": real / "cord19_sample" / "metadata_subset_small.csv"}, scratch / "cord19"),
                     "real", True, "the 2,000-row CORD-19 sample as metadata.csv")
    out["biored"] = (_copy({"BioRED/Train.PubTator": real / "biored" / "Train.PubTator",
                            "BioRED/Dev.PubTator": real / "biored" / "Dev.PubTator"}, scratch / "biored"),
                     "real", False, "BIORED.zip's BioRED/ folder without Test.PubTator (not in the shared copy; the "
                     "chapter reads Train and Dev only)")
    out["litcoin"] = (_copy({p.name: p for p in sorted((real / "litcoin").glob("*.csv"))}, scratch / "litcoin"),
                      "real", True, "")
    out["ncbi_disease"] = (_copy({"NCBItrainset_corpus.txt": real / "ncbi_disease" / "NCBItrainset.txt",
                                  "NCBIdevelopset_corpus.txt": real / "ncbi_disease" / "NCBIdevelopset.txt"},
                                 scratch / "ncbi_disease"),
                           "real", False, "train and develop as the archives extract them; no test set (not in the "
                           "shared copy; the chapter scores on develop)")
    out["disease_vocab"] = (_copy({p.name: p for p in sorted((real / "disease_vocab").glob("*.tsv"))},
                                  scratch / "disease_vocab"), "real", True, "")
    ruijin = sorted(p for p in (real / "ruijin_diabetes").iterdir() if p.suffix in {".txt", ".ann"})
    out["ruijin_diabetes"] = (_copy({p.name: p for p in ruijin}, scratch / "ruijin_diabetes"), "real", False,
                              f"{len(ruijin) // 2} of the manifest's 363 documents (the shared copy); the course's "
                              "split names only these")
    out["bio_simlex"] = (_copy({"Bio-SimLex.txt": sim / "bio-simlex_Bio-SimLex.txt"}, scratch / "bio_simlex"),
                         "real", True, "")
    out["word_classes"] = (_copy({p.name: p for p in sorted((real / "word_classes").iterdir()) if p.is_file()},
                                 scratch / "word_classes"), "real", True, "")
    umnsrs = {"UMNSRS_similarity.csv": _similarity_rows(sim / "UMNSRS_UMNSRS-sim.txt"),
              "UMNSRS_relatedness.csv": _similarity_rows(sim / "UMNSRS_UMNSRS-rel.txt")}
    out["umnsrs"] = (_write_umnsrs(scratch / "umnsrs", umnsrs), "real, reformatted", True,
                     "the real pairs and means in cui2vec's CSV format; Stdev 0 and placeholder CUIs (not in the "
                     "shared copy)")
    out["mayosrs"] = (_write_mayosrs(scratch / "mayosrs", _similarity_rows(sim / "MayoSRS_MayoSRS.txt"),
                                     _similarity_rows(sim / "MayoSRS_MiniMayoSRS.txt")),
                      "real, reformatted", True, "the real pairs and scores in VCU's .gold/.terms format; placeholder "
                      "CUIs; MiniMayoSRS physicians = coders = the shared copy's mean")
    return out


# ------------------------------------------------------------------------------------------------ the data folder


def build_data_dir(root: Path, scratch: Path, *, real: Path | None,
                   synthetic: Callable[[Path], dict[str, tuple[Path, str, bool, str]]] | None = None) -> list[Staged]:
    """Fill the data folder ``root`` with every dataset of :data:`DATASETS` (``scratch`` holds the sources while
    they are made) and return what was staged, and how. ``real`` is ``$COURSE_REAL_DATA`` or None; without it the
    fixtures come from ``synthetic`` (default :func:`rehearsal.fixtures.synthetic_sources`)."""
    from course_utils.data import list_manifests

    if real is not None:
        sources = _real_sources(real, scratch)
    else:
        if synthetic is None:
            from .fixtures import synthetic_sources as synthetic
        sources = synthetic(scratch)
    known = set(list_manifests())
    staged = []
    for name, (folder, source, complete, note) in sources.items():
        if name not in known:  # a manifest another change adds (e.g. word_classes): skipped until it exists
            staged.append(Staged(name, source, False, f"NOT STAGED: no data_manifests/{name}.yaml"))
            continue
        if complete:
            _stage(name, folder, root)
        else:
            place(name, folder, root, note)
        staged.append(Staged(name, source, complete, note))
    return staged
