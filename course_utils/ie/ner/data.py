"""The chapter-12 data: the Ruijin split (made once, committed), the chapter's documents by profile, and
scores on entities unseen in training (chapter 12).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..brat import BratDocument, Entity, read_folder
from ..scoring import Mention, SpanScores, score_mentions
from .model import NerError

__all__ = ["load_split", "make_split", "ChapterData", "chapter_data", "unseen_scores"]

def make_split(doc_ids: Sequence[str], *, seed: int = 1234, fractions: tuple[float, float] = (0.8, 0.1)
               ) -> dict[str, list[str]]:
    """Return a document-level ``{"train", "val", "test"}`` split of ``doc_ids`` (chapter 12)."""
    ids = sorted(doc_ids, key=lambda s: (0, int(s)) if s.isdigit() else (1, s))
    order = np.random.default_rng(seed).permutation(len(ids))
    n_train = int(round(fractions[0] * len(ids)))
    n_val = int(round(fractions[1] * len(ids)))
    pick = lambda idx: sorted((ids[i] for i in idx), key=lambda s: (0, int(s)) if s.isdigit() else (1, s))  # noqa: E731
    return {"train": pick(order[:n_train]), "val": pick(order[n_train:n_train + n_val]),
            "test": pick(order[n_train + n_val:])}


def load_split(path: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """Return a split file's ``train``/``val``/``test`` id lists; default: the committed Ruijin split."""
    file = Path(path) if path else Path(__file__).parent.parent / "splits" / "ruijin_split.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise NerError(f"cannot read split file {file}: {exc}. Give a JSON file with train/val/test id lists.") from exc
    missing = {"train", "val", "test"} - set(data)
    if missing:
        raise NerError(f"split file {file} lacks {sorted(missing)}; it needs train, val and test lists of ids.")
    return {k: [str(i) for i in data[k]] for k in ("train", "val", "test")}


@dataclass
class ChapterData:
    """The chapter's documents: train, validation and test, where they came from, whether text may be shown."""

    train: tuple[BratDocument, ...]
    val: tuple[BratDocument, ...]
    test: tuple[BratDocument, ...]
    source: str
    redistributable: bool


def chapter_data(settings: Any, work_dir: str | os.PathLike[str]) -> ChapterData:
    """Return the chapter-12 documents of a profile: synthetic (smoke) or the Ruijin split (lab, full).

    Smoke writes ``settings.n_documents`` synthetic training documents, a quarter as many for validation
    (same surface forms) and half as many test documents (half of their mentions held out) as brat folders
    under ``work_dir/ch12`` (cached by the settings) and reads them back with the brat reader.
    ``settings.max_documents`` / ``max_eval_documents`` (a rehearsal's size knobs) keep the first documents of
    each split.
    """
    from ...cache import cache_key, cached_folder
    from .synthetic import synthetic_documents, write_synthetic_folder

    if settings.dataset == "synthetic":
        n = settings.n_documents
        key = cache_key("ch12-synthetic", {"n": n, "seed": settings.seed, "v": 1})

        def build(folder: Path) -> None:
            write_synthetic_folder(folder / "train", synthetic_documents(n, seed=settings.seed))
            write_synthetic_folder(folder / "val", synthetic_documents(max(2, n // 4), seed=settings.seed,
                                                                       first_id=10_000))
            write_synthetic_folder(folder / "test", synthetic_documents(max(2, n // 2), seed=settings.seed,
                                                                        held_out=True, first_id=20_000))

        root = cached_folder(key, build, root=Path(work_dir) / "ch12")
        parts = [read_folder(root / name).documents for name in ("train", "val", "test")]
        return ChapterData(*_capped(*parts, settings), source=f"synthetic ({root})", redistributable=True)
    from ...data.store import require_dataset

    corpus = read_folder(require_dataset(settings.dataset))
    split = load_split()
    train, val, test = (corpus.subset(split[k]).documents for k in ("train", "val", "test"))
    return ChapterData(*_capped(train, val, test, settings), source=settings.dataset,
                       redistributable=corpus.redistributable)


def _capped(train: tuple[BratDocument, ...], val: tuple[BratDocument, ...], test: tuple[BratDocument, ...],
            settings: Any) -> tuple[tuple[BratDocument, ...], ...]:
    """Return the splits cut to ``settings.max_documents`` (train) and ``max_eval_documents`` (val, test)."""
    most, most_eval = getattr(settings, "max_documents", None), getattr(settings, "max_eval_documents", None)
    return (train[:most] if most else train, val[:most_eval] if most_eval else val,
            test[:most_eval] if most_eval else test)


def unseen_scores(train: Sequence[BratDocument], test: Sequence[BratDocument],
                  predicted: Sequence[Sequence[Entity]]) -> SpanScores:
    """Return exact span scores restricted to mentions whose (type, surface) never occurs in ``train``.

    Gold and predicted mentions are both restricted by their own surface (line breaks removed), so the
    score says how well the model finds names it has never seen. Chapter 12.
    """
    def surface(doc: BratDocument, spans: tuple[tuple[int, int], ...]) -> str:
        return "".join(doc.text[a:b] for a, b in spans).replace("\n", "").replace("\r", "")

    seen = {(e.type, surface(d, e.spans)) for d in train for e in d.entities}
    gold = [Mention(d.doc_id, e.type, e.spans) for d in test for e in d.entities
            if (e.type, surface(d, e.spans)) not in seen]
    pred = [Mention(d.doc_id, e.type, e.spans) for d, ents in zip(test, predicted, strict=True) for e in ents
            if (e.type, surface(d, e.spans)) not in seen]
    return score_mentions(gold, pred)
