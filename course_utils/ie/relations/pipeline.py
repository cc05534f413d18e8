"""Chapter 13 end to end: entities, relations and novelty from raw abstracts, and their scores (chapter 13).

Three commands a student can run on their own files::

    python -m course_utils.ie.relations.pipeline train --train Train.PubTator --out MODEL_DIR \\
        [--format pubtator|litcoin] [--ner minilm|dictionary] [--ner-model minilm|biomedbert] \\
        [--relation-model lstm|rnn|transformer|pretrained] [--encoder minilm|biomedbert]
    python -m course_utils.ie.relations.pipeline predict --model-dir MODEL_DIR --input Dev.PubTator \\
        --out pred.PubTator [--gold-entities]
    python -m course_utils.ie.relations.pipeline score --gold Dev.PubTator --pred pred.PubTator

``train`` fits the NER model (:mod:`course_utils.ie.relations.ner`: token classification over ``--ner-model``, by
default the installed MiniLM, in lab the manifest ``biomedbert``; or the dictionary tagger baseline) and the relation + novelty classifier (:mod:`course_utils.ie.relations.models`) and saves both under
MODEL_DIR. ``predict`` finds the entities, then classifies every candidate pair of their ids; with
``--gold-entities`` it keeps the input's mentions and predicts relations only. Output is PubTator, or, when the
name ends in ``.csv`` / ``.tsv``, LitCoin's entity submission with the relations beside it in ``NAME_relations.csv``
(LitCoin's relation layout; the entity submission has no relation columns). ``score`` prints entity P/R/F1 per type with
micro and macro, relation P/R/F1 per type with micro and macro over the relation types present in the gold file,
and BioCreative VIII's four relation metrics (the BioRED paper's three and pair + novelty).

**Relations with predicted entities.** The relation model sees only the predicted mentions; their ids come from
the NER model's id dictionary (the ids its training mentions carried for the same normalised text) or are
placeholders ``?{type}:{normalised text}`` when the text was never seen in training. Relations are predicted over
the id pairs of those mentions and scored against gold exactly as with gold entities: a predicted relation counts
only when its document, its two ids (and type, and novelty, for the stricter metrics) equal a gold relation's.
This end-to-end setting is the course's own (the documented end-to-end evaluation with normalised ids is
BioCreative VIII BioRED's subtask 2, Islamaj et al., Database 2024). A relation over a placeholder id can therefore
never count, and a relation whose mentions the NER model missed is a false negative.

Bad input files raise :class:`~course_utils.ie.biored.BioREDFormatError`; the commands print every problem as
``file:line`` and exit with status 2, as they do for an empty or missing file, a misspelt entity type, relation
type or novelty, and a model folder that holds no trained pipeline. Outputs are written to a temporary sibling and
renamed, so a failed command leaves no half-written file.

**Several GPUs.** ``train`` runs data-parallel under PyTorch's launcher (:mod:`course_utils.distributed`): both
models train with each process taking its share of every global batch (the batch sizes stay global), and rank 0
alone prints and saves::

    torchrun --standalone --nproc_per_node 4 -m course_utils.ie.relations.pipeline train --train Train.PubTator \\
        --out MODEL_DIR --ner-model biomedbert --relation-model pretrained --encoder biomedbert
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from course_utils.commands import Verb, positive_int, run_command
from course_utils.errors import CourseError
from course_utils.ie.biored import (
    ENTITY_TYPES,
    BioDocument,
    BioREDFormatError,
    EntityMention,
    Problem,
    biored_metrics,
    check_output,
    read_litcoin,
    read_pubtator,
    relation_scores,
    write_litcoin_submission,
    write_pubtator,
)
from course_utils.ie.biored.reader import _atomic_write
from course_utils.ie.relations.models import (
    KINDS,
    RelationClassifier,
    documents_with_relations,
    load_classifier,
    predict_relations,
    save_classifier,
    train_relations,
)
from course_utils.ie.relations.ner import (
    BioNerModel,
    DictionaryTagger,
    entity_scores,
    load_ner,
    predict_mentions,
    save_ner,
    train_ner,
)
from course_utils.ie.scoring import TypeScore

__all__ = ["NER_KINDS", "FORMATS", "PipelineError", "PipelineSettings", "PipelineModels", "read_documents",
           "write_documents", "train_pipeline", "save_pipeline", "load_pipeline", "predict_documents",
           "score_documents", "score_files", "format_scores", "main"]

NER_KINDS = ("minilm", "dictionary")
FORMATS = ("pubtator", "litcoin")
_CONFIG = "pipeline.json"
_DICTIONARY = "dictionary.json"


class PipelineError(CourseError, ValueError):
    """A pipeline folder or command that cannot be used as asked (chapter 13)."""


@dataclass(frozen=True)
class PipelineSettings:
    """How the two models of the pipeline are trained (chapter 13).

    ``ner`` is ``"minilm"`` (token classification with ``ner_model``, by default the installed MiniLM) or
    ``"dictionary"`` (exact match of training mentions, the baseline); ``relation_model`` one of
    :data:`course_utils.ie.relations.models.KINDS`, with ``encoder`` the pretrained model for ``"pretrained"``. ``None``
    leaves a setting at :func:`~course_utils.ie.relations.models.train_relations`' default (batch size 4 for the
    pretrained kind, 8 otherwise).
    """

    ner: str = "minilm"
    ner_model: str = "minilm"
    ner_epochs: int = 3
    ner_batch_size: int = 16
    ner_max_length: int = 256
    ner_lr: float = 1e-4
    relation_model: str = "lstm"
    encoder: str = "minilm"
    relation_epochs: int = 8
    relation_batch_size: int | None = None
    relation_lr: float | None = None
    encoder_lr: float = 1e-4
    encoder_layers: int | None = None
    seed: int = 1234


@dataclass
class PipelineModels:
    """A trained NER model (or ``None`` when loaded for gold entities only), a relation classifier, the settings
    they were trained with and their training times in seconds (chapter 13)."""

    ner: BioNerModel | DictionaryTagger | None
    relations: RelationClassifier
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    train_seconds: dict[str, float] = field(default_factory=dict)


def read_documents(path: str | Path, fmt: str | None = None) -> list[BioDocument]:
    """Return the documents of a PubTator file, or of a LitCoin abstracts file with its sibling entities and
    relations files when present (``abstracts_X.csv`` -> ``entities_X.csv``, ``relations_X.csv``) (chapter 13).

    ``fmt`` is ``"pubtator"``, ``"litcoin"`` or ``None`` (LitCoin for ``.csv`` / ``.tsv``, PubTator otherwise).
    Raises :class:`~course_utils.ie.biored.BioREDFormatError` listing file and line of every problem.
    """
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path} not found; give a PubTator file or a LitCoin abstracts file")
    fmt = fmt or ("litcoin" if path.suffix.lower() in {".csv", ".tsv"} else "pubtator")
    if fmt not in FORMATS:
        raise PipelineError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "pubtator":
        return list(read_pubtator(path).documents)
    siblings = {}
    for kind in ("entities", "relations"):
        other = path.with_name(path.name.replace("abstracts", kind))
        siblings[kind] = other if other != path and other.is_file() else None
    if siblings["entities"] is None:
        siblings["relations"] = None  # relations name entity ids: they need the entities file
    return list(read_litcoin(path, siblings["entities"], siblings["relations"]).documents)


def relations_path(path: str | Path) -> Path:
    """Return the name of the relations file written beside a LitCoin entity submission ``path``:
    ``pred.csv`` -> ``pred_relations.csv`` (chapter 13)."""
    path = Path(path)
    return path.with_name(f"{path.stem}_relations{path.suffix}")


def write_documents(documents: Sequence[BioDocument], path: str | Path) -> list[Path]:
    """Return the files written: for ``.csv`` / ``.tsv`` LitCoin's entity submission at ``path`` and, since it has
    no relation columns, the relations in LitCoin's relation layout (id, abstract_id, type, entity_1_id,
    entity_2_id, novel) at :func:`relations_path`; otherwise one PubTator file with mentions, relations and
    novelty. Each file is written to a temporary sibling and renamed (chapter 13)."""
    path = Path(path)
    if path.suffix.lower() not in {".csv", ".tsv"}:
        return [write_pubtator(documents, path)]
    lines = ["id\tabstract_id\ttype\tentity_1_id\tentity_2_id\tnovel"]
    for doc in documents:
        for i, r in enumerate(doc.relations):
            novel = "" if r.novel is None else ("Novel" if r.novel else "No")
            lines.append(f"{i}\t{doc.doc_id}\t{r.type}\t{r.id1}\t{r.id2}\t{novel}")
    rel_path = relations_path(path)
    _atomic_write(rel_path, "\n".join(lines) + "\n")
    return [write_litcoin_submission(documents, path), rel_path]


def train_pipeline(documents: Sequence[BioDocument], settings: PipelineSettings = PipelineSettings(), *,
                   device: Any = None, show_progress: bool = True) -> PipelineModels:
    """Return the NER model and the relation classifier trained on ``documents`` with ``settings`` (chapter 13)."""
    if settings.ner not in NER_KINDS:
        raise PipelineError(f"unknown NER model {settings.ner!r}; choose one of {', '.join(NER_KINDS)}")
    if settings.relation_model not in KINDS:
        raise PipelineError(f"unknown relation model {settings.relation_model!r}; choose one of {', '.join(KINDS)}")
    if not any(d.mentions for d in documents):
        raise PipelineError("the training documents have no entity mentions to learn from (for LitCoin, put "
                            "entities_X.csv and relations_X.csv beside abstracts_X.csv)")
    times: dict[str, float] = {}
    start = time.perf_counter()
    ner: BioNerModel | DictionaryTagger
    if settings.ner == "dictionary":
        ner = DictionaryTagger.fit(documents)
    else:
        ner = train_ner(documents, model=settings.ner_model, epochs=settings.ner_epochs,
                        batch_size=settings.ner_batch_size, max_length=settings.ner_max_length, lr=settings.ner_lr,
                        seed=settings.seed, device=device, show_progress=show_progress)
    times["ner"] = time.perf_counter() - start
    pretrained = settings.relation_model == "pretrained"
    extra: dict[str, Any] = {}
    if pretrained:
        extra = {"model": settings.encoder, "encoder_lr": settings.encoder_lr, "encoder_layers": settings.encoder_layers}
    if settings.relation_lr is not None:
        extra["lr"] = settings.relation_lr
    batch_size = settings.relation_batch_size or (4 if pretrained else 8)
    clf = train_relations(documents, kind=settings.relation_model, epochs=settings.relation_epochs,
                          batch_size=batch_size, seed=settings.seed, device=device, show_progress=show_progress,
                          **extra)
    times["relations"] = clf.train_seconds
    return PipelineModels(ner, clf, settings, times)


def _save_dictionary(tagger: DictionaryTagger, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [[list(key), etype, list(ids)] for key, (etype, ids) in tagger.entries.items()]
    (folder / _DICTIONARY).write_text(json.dumps({"min_chars": tagger.min_chars, "entries": rows},
                                                 ensure_ascii=False), encoding="utf-8")


def _load_dictionary(folder: Path) -> DictionaryTagger:
    path = folder / _DICTIONARY
    if not path.is_file():
        raise PipelineError(f"{path} not found: the pipeline folder is incomplete; train it again")
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = {tuple(key): (etype, tuple(ids)) for key, etype, ids in data["entries"]}
    return DictionaryTagger(entries, int(data["min_chars"]))


def save_pipeline(models: PipelineModels, folder: str | Path) -> Path:
    """Return ``folder`` after saving both models and ``pipeline.json`` into it atomically (chapter 13)."""
    from course_utils.paths import staged_directory

    folder = Path(folder)
    with staged_directory(folder) as tmp:
        if isinstance(models.ner, DictionaryTagger):
            _save_dictionary(models.ner, tmp / "ner")
        elif isinstance(models.ner, BioNerModel):
            save_ner(models.ner, tmp / "ner")
        else:
            raise PipelineError("a pipeline is saved with its NER model; this one was loaded without it")
        save_classifier(models.relations, tmp / "relations")
        config = {"settings": models.settings.__dict__, "train_seconds": models.train_seconds}
        (tmp / _CONFIG).write_text(json.dumps(config, indent=2))
    return folder


def load_pipeline(folder: str | Path, *, gold_entities: bool = False, device: Any = None) -> PipelineModels:
    """Return the models saved by :func:`save_pipeline`; with ``gold_entities`` the NER model is not loaded.

    Raises :class:`PipelineError` when ``folder`` holds no trained pipeline (chapter 13).
    """
    folder = Path(folder)
    config_path = folder / _CONFIG
    if not config_path.is_file():
        raise PipelineError(f"no trained pipeline in {folder} ({config_path.name} not found); train one first: "
                            f"python -m course_utils.ie.relations.pipeline train --train FILE --out {folder}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        settings = PipelineSettings(**config["settings"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise PipelineError(f"{config_path} cannot be read ({exc}): the pipeline folder is damaged; train it "
                            f"again: python -m course_utils.ie.relations.pipeline train --train FILE --out {folder}"
                            ) from None
    ner: BioNerModel | DictionaryTagger | None = None
    if not gold_entities:
        if settings.ner == "dictionary":
            ner = _load_dictionary(folder / "ner")
        else:
            ner = load_ner(folder / "ner", device=device)
    relations = load_classifier(folder / "relations", device=device)
    return PipelineModels(ner, relations, settings, config.get("train_seconds", {}))


def predict_documents(models: PipelineModels, documents: Sequence[BioDocument], gold_entities: bool = False
                      ) -> list[BioDocument]:
    """Return the documents with predicted mentions, relations and novelty (chapter 13).

    With ``gold_entities`` the documents keep their own mentions and only the relations are predicted. Otherwise
    the NER model's mentions replace them (ids from its id dictionary, or ``?{type}:{text}`` placeholders) and
    relations are predicted over the id pairs of the predicted mentions; scored against gold, such a relation
    counts only when its ids equal the gold ids.
    """
    docs = [replace(d, relations=()) for d in documents]
    if not gold_entities:
        if models.ner is None:
            raise PipelineError("this pipeline was loaded without its NER model (gold_entities=True); load it "
                                "again with gold_entities=False to predict entities")
        if isinstance(models.ner, DictionaryTagger):
            docs = models.ner.predict(docs)
        else:
            docs = predict_mentions(models.ner, docs)
    pairs = predict_relations(models.relations, docs)
    return documents_with_relations(docs, pairs)


def _score_row(score: TypeScore) -> dict[str, float | int]:
    return {"precision": score.precision, "recall": score.recall, "f1": score.f1, "support": score.support,
            "tp": score.tp, "fp": score.fp, "fn": score.fn}


def score_documents(gold: Sequence[BioDocument], predicted: Sequence[BioDocument]) -> dict[str, Any]:
    """Return entity, relation and BioRED scores of ``predicted`` against ``gold`` as a nested dict (chapter 13).

    ``entities``: exact span + type P/R/F1 per type, micro and macro; ``relations``: P/R/F1 per relation type,
    micro and macro over the relation types present in ``gold``; ``biored``: entity pair, pair + type,
    pair + type + novelty (micro). A relation counts only when document and both ids equal a gold relation's:
    with predicted entities, ids the NER model got wrong (placeholders included) never count.
    """
    known = {d.doc_id for d in gold}
    extra = sorted({d.doc_id for d in predicted} - known)
    if extra:
        raise PipelineError(f"{len(extra)} predicted document(s) not in the gold file, e.g. {extra[0]}; score a "
                            "prediction against the file it was made from")
    if not gold or not any(d.mentions or d.relations for d in gold):
        raise PipelineError("the gold documents have no mentions and no relations: nothing to score against; give "
                            "the annotated gold file (for LitCoin, with entities_X.csv and relations_X.csv beside "
                            "abstracts_X.csv)")
    entities = entity_scores(gold, predicted)
    rel = relation_scores(gold, predicted)
    gold_types = {r.type for d in gold for r in d.relations}
    return {
        "documents": len(gold),
        "documents_missing": len(known - {d.doc_id for d in predicted}),
        "entities": {"per_type": {t: _score_row(s) for t, s in sorted(entities.per_type.items())},
                     "micro": _score_row(entities.micro), "macro_f1": entities.macro_f1},
        "relations": {"per_type": {t: _score_row(s) for t, s in sorted(rel.per_type.items())},
                      "micro": _score_row(rel.micro), "macro_f1": rel.macro_f1,
                      "types_present": sorted(gold_types)},
        "biored": {name: _score_row(s) for name, s in biored_metrics(gold, predicted).items()},
    }


_SUBMISSION_HEADER = ["id", "abstract_id", "offset_start", "offset_finish", "type"]


def _read_submission(path: Path, gold: Sequence[BioDocument]) -> list[BioDocument] | None:
    """Return the documents of a LitCoin entity submission (mentions only, their text taken from ``gold``), or
    ``None`` when ``path`` is not one."""
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    if not rows or [c.strip() for c in rows[0]] != _SUBMISSION_HEADER:
        return None
    by_id = {d.doc_id: d for d in gold}
    mentions: dict[str, list[EntityMention]] = {}
    problems = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(_SUBMISSION_HEADER):
            problems.append(Problem(str(path), number, "-", f"{len(row)} tab-separated columns; expected 5 "
                                    f"({', '.join(_SUBMISSION_HEADER)})"))
            continue
        doc_id = row[1].strip()
        doc = by_id.get(doc_id)
        if doc is None:
            problems.append(Problem(str(path), number, doc_id, "abstract id not in the gold file"))
            continue
        try:
            start, end = int(row[2]), int(row[3])
        except ValueError:
            problems.append(Problem(str(path), number, doc_id, "offsets are not integers"))
            continue
        if not 0 <= start < end <= len(doc.text):
            problems.append(Problem(str(path), number, doc_id, f"offsets {start}-{end} are outside the text "
                                    f"({len(doc.text)} characters)"))
            continue
        if row[4].strip() not in ENTITY_TYPES:
            problems.append(Problem(str(path), number, doc_id, f"entity type {row[4].strip()!r} is not one of "
                                    f"{', '.join(ENTITY_TYPES)}"))
            continue
        mentions.setdefault(doc_id, []).append(EntityMention(start, end, doc.text[start:end], row[4].strip(), ()))
    if problems:
        shown = "\n  ".join(str(p) for p in problems[:20])
        raise BioREDFormatError(f"{len(problems)} problem(s) in {path}:\n  {shown}")
    return [replace(d, mentions=tuple(mentions.get(d.doc_id, ())), relations=()) for d in gold]


def score_files(gold: str | Path, pred: str | Path, *, fmt: str | None = None) -> dict[str, Any]:
    """Return :func:`score_documents` of two files (PubTator, or LitCoin by ``fmt`` / suffix) (chapter 13).

    A LitCoin entity submission (what ``predict`` writes for a ``.csv`` / ``.tsv`` name) holds offsets and types
    only: it is read against the gold documents' text and scored for entities (it has no relations).
    """
    gold_docs = read_documents(gold, fmt)
    pred_path = Path(pred)
    if pred_path.suffix.lower() in {".csv", ".tsv"} and pred_path.is_file():
        submission = _read_submission(pred_path, gold_docs)
        if submission is not None:
            return score_documents(gold_docs, submission)
    return score_documents(gold_docs, read_documents(pred, fmt))


def format_scores(scores: dict[str, Any]) -> str:
    """Return the scores of :func:`score_documents` as aligned plain-text tables (chapter 13)."""
    lines = []

    def row(name: str, s: dict[str, float | int]) -> str:
        return f"  {name:28s} P={s['precision']:.3f}  R={s['recall']:.3f}  F1={s['f1']:.3f}  support={s['support']}"

    lines.append(f"entities ({scores['documents']} documents), exact span + type")
    lines += [row(t, s) for t, s in scores["entities"]["per_type"].items()]
    lines.append(row("micro", scores["entities"]["micro"]))
    lines.append(f"  {'macro':28s} F1={scores['entities']['macro_f1']:.3f}")
    lines.append("relations (document, id pair, type)")
    lines += [row(t, s) for t, s in scores["relations"]["per_type"].items()]
    lines.append(row("micro", scores["relations"]["micro"]))
    lines.append(f"  {'macro':28s} F1={scores['relations']['macro_f1']:.3f} "
                 f"(over the {len(scores['relations']['types_present'])} relation types in the gold file)")
    lines.append("BioRED metrics")
    lines += [row(name, s) for name, s in scores["biored"].items()]
    return "\n".join(lines)


def _train_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("--train", required=True, help="PubTator file, or LitCoin abstracts file (entities and "
                   "relations files beside it)")
    t.add_argument("--format", choices=FORMATS, default=None, help="default: litcoin for .csv/.tsv, else pubtator")
    t.add_argument("--out", required=True, help="model folder to write")
    t.add_argument("--ner", choices=NER_KINDS, default="minilm",
                   help="minilm: token classification over --ner-model; dictionary: the baseline")
    t.add_argument("--ner-model", default=PipelineSettings.ner_model,
                   help="encoder of the NER model: minilm (installed), a model manifest such as biomedbert (fetched "
                        "with `python -m course_utils.data fetch biomedbert`) or a local folder")
    t.add_argument("--relation-model", choices=KINDS, default="lstm")
    t.add_argument("--encoder", default="minilm", help="encoder of --relation-model pretrained: minilm, a model "
                   "manifest such as biomedbert, or a local folder")
    t.add_argument("--ner-epochs", type=positive_int, default=PipelineSettings.ner_epochs)
    t.add_argument("--relation-epochs", type=positive_int, default=PipelineSettings.relation_epochs)
    t.add_argument("--encoder-lr", type=float, default=PipelineSettings.encoder_lr,
                   help="encoder learning rate of the pretrained relation model")
    t.add_argument("--encoder-layers", type=positive_int, default=None,
                   help="keep the first N layers of the pretrained relation model's encoder (default all)")
    t.add_argument("--max-length", type=positive_int, default=PipelineSettings.ner_max_length,
                   help="NER window length")
    t.add_argument("--ner-batch-size", type=positive_int, default=PipelineSettings.ner_batch_size,
                   help="NER windows per step, over all processes")
    t.add_argument("--relation-batch-size", type=positive_int, default=None,
                   help="abstracts per relation step, over all processes (default 4 pretrained, 8 otherwise)")
    t.add_argument("--seed", type=int, default=PipelineSettings.seed)


def _predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-dir", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--format", choices=FORMATS, default=None)
    p.add_argument("--out", required=True, help="PubTator file; or, for a name ending in .csv/.tsv, LitCoin's entity "
                   "submission plus its relations in NAME_relations.csv")
    p.add_argument("--gold-entities", action="store_true", help="keep the input's mentions; predict relations only")


def _score_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--gold", required=True)
    s.add_argument("--pred", required=True)
    s.add_argument("--format", choices=FORMATS, default=None)
    s.add_argument("--json", default=None, help="also write the scores to this JSON file")


def _train_command(args: argparse.Namespace) -> None:
    """``train``: one process, or one of several under torchrun (rank 0 prints and saves)."""
    from course_utils.device import pick_device
    from course_utils.distributed import barrier, init_distributed, shutdown

    check_output(args.out, folder=True)
    docs = read_documents(args.train, args.format)
    if not any(d.relations for d in docs):
        raise PipelineError(f"{args.train} has no relations to learn from (for LitCoin, put relations_X.csv beside "
                            "abstracts_X.csv, with entities_X.csv)")
    settings = PipelineSettings(ner=args.ner, ner_model=args.ner_model, relation_model=args.relation_model,
                                encoder=args.encoder, ner_epochs=args.ner_epochs, ner_batch_size=args.ner_batch_size,
                                relation_epochs=args.relation_epochs, relation_batch_size=args.relation_batch_size,
                                ner_max_length=args.max_length, encoder_lr=args.encoder_lr,
                                encoder_layers=args.encoder_layers, seed=args.seed)
    ctx = init_distributed(pick_device(args.device))
    try:
        models = train_pipeline(docs, settings, device=ctx.device, show_progress=ctx.is_main)
        if ctx.is_main:
            save_pipeline(models, args.out)
            times = ", ".join(f"{k} {v:.1f} s" for k, v in models.train_seconds.items())
            where = f" on {ctx.world_size} processes" if ctx.distributed else ""
            print(f"trained on {len(docs)} abstracts{where} ({times}) -> {args.out}")
        barrier(ctx)
    finally:
        shutdown(ctx)


def _predict_command(args: argparse.Namespace) -> None:
    check_output(args.out)
    docs = read_documents(args.input, args.format)  # a bad input is reported before a model is loaded
    if args.gold_entities and not any(len(d.entity_types()) > 1 for d in docs):
        raise PipelineError(f"{args.input} has no document with two entity ids: --gold-entities needs the mentions "
                            "in the input (leave it out to let the NER model find them)")
    models = load_pipeline(args.model_dir, gold_entities=args.gold_entities, device=args.device)
    start = time.perf_counter()
    predicted = predict_documents(models, docs, gold_entities=args.gold_entities)
    seconds = time.perf_counter() - start
    written = write_documents(predicted, args.out)
    n_rel = sum(len(d.relations) for d in predicted)
    n_men = sum(len(d.mentions) for d in predicted)
    print(f"{len(docs)} abstracts, {n_men} mentions, {n_rel} relations in {seconds:.2f} s "
          f"({len(docs) / max(seconds, 1e-9):.1f} abstracts/s) -> {', '.join(map(str, written))}")


def _score_command(args: argparse.Namespace) -> None:
    if args.json:
        check_output(args.json, option="--json")
    scores = score_files(args.gold, args.pred, fmt=args.format)
    missing = scores.get("documents_missing", 0)
    if missing:
        print(f"warning: {missing} of {scores['documents']} gold documents are not in {args.pred}; their mentions "
              "and relations count as missed", file=sys.stderr)
    print(format_scores(scores))
    if args.json:
        _atomic_write(Path(args.json), json.dumps(scores, indent=2))


VERBS = (
    Verb("train", "train the NER and relation models on an annotated file", _train_command, _train_arguments,
         epilog="Several GPUs: torchrun --standalone --nproc_per_node N -m course_utils.ie.relations.pipeline train ... "
                "(batch sizes are global; rank 0 saves).", device=True),
    Verb("predict", "predict entities, relations and novelty for a file", _predict_command, _predict_arguments,
         device=True),
    Verb("score", "score a prediction file against a gold file (entities and relations)", _score_command,
         _score_arguments),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the commands train / predict / score; return the exit status (2 on bad input) (chapter 13)."""
    return run_command("python -m course_utils.ie.relations.pipeline", (__doc__ or "").split("\n")[0], VERBS, argv)


if __name__ == "__main__":
    sys.exit(main())
