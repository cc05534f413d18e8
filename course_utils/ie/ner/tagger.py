"""The chapter-12 command: train, predict and score Chinese medical NER on brat folders (chapter 12).

The tagger itself lives beside this module: :mod:`.model` (character vocabulary, encoder -> BiLSTM -> Linear ->
CRF, building, saving, loading), :mod:`.training` (examples, batches, the training loop), :mod:`.evaluation`
(whole-document prediction, the document-level exact-span scorer, the bootstrap), :mod:`.recipes` (the named
recipes the command, the benchmark and the notebook share) and :mod:`.data` (the Ruijin split, the chapter's
documents). Their public names are re-exported here, so ``from course_utils.ie.ner.tagger import train_ner``
keeps working.

Commands (``python -m course_utils.ie.ner.tagger --help``)::

    python -m course_utils.ie.ner.tagger train   --data BRAT_DIR --out MODEL_DIR [--split SPLIT.json]
    python -m course_utils.ie.ner.tagger predict --model MODEL_DIR --input TXT_DIR --output ANN_DIR
    python -m course_utils.ie.ner.tagger score   --gold BRAT_DIR --pred BRAT_DIR

``train`` also runs data parallel on several GPUs (or CPU processes) under ``torchrun --standalone
--nproc_per_node N -m course_utils.ie.ner.tagger train ...`` (:mod:`course_utils.distributed`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...commands import Verb, run_command
from ..bio import RUIJIN_TYPES
from ..brat import read_folder, read_text_exact, write_document
from ..scoring import error_classes, score_mentions, scores_table
from .data import (
    ChapterData,
    chapter_data,
    load_split,
    make_split,
    unseen_scores,
)
from .evaluation import (
    Evaluation,
    bootstrap_micro_f1,
    document_counts,
    evaluate_documents,
    mentions_of,
    predict_documents,
)
from .model import (
    SPACE_TOKEN,
    CharVocab,
    Example,
    NerError,
    NerModel,
    bigram_keys,
    bilstm_padded,
    build_model,
    load_model,
    pretrain_embeddings,
    save_model,
    uncased_vocabulary,
)
from .recipes import (
    RARE_RUIJIN_TYPES,
    RECIPES,
    Recipe,
    RecipeRun,
    add_recipe_arguments,
    notebook_recipe,
    recipe,
    recipe_from_args,
    train_recipe,
)
from .training import (
    TrainConfig,
    TrainResult,
    chunk_f1,
    make_examples,
    train_ner,
)

__all__ = [
    "NerError",
    "CharVocab",
    "SPACE_TOKEN",
    "uncased_vocabulary",
    "Example",
    "NerModel",
    "bilstm_padded",
    "TrainConfig",
    "Recipe",
    "RECIPES",
    "RARE_RUIJIN_TYPES",
    "recipe",
    "notebook_recipe",
    "add_recipe_arguments",
    "recipe_from_args",
    "RecipeRun",
    "train_recipe",
    "TrainResult",
    "Evaluation",
    "build_model",
    "bigram_keys",
    "pretrain_embeddings",
    "make_examples",
    "train_ner",
    "predict_documents",
    "evaluate_documents",
    "document_counts",
    "bootstrap_micro_f1",
    "chunk_f1",
    "save_model",
    "load_model",
    "load_split",
    "make_split",
    "ChapterData",
    "chapter_data",
    "unseen_scores",
    "main",
]

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ commands


def _cmd_train(args: argparse.Namespace) -> int:
    from ...distributed import barrier, init_distributed, shutdown

    name, chosen = recipe_from_args(args)
    corpus = read_folder(args.data)
    _report_problems(corpus, allow=args.allow_problems, what="training data", say=_stderr)
    if args.split:
        split = load_split(args.split)
        train_docs = corpus.subset(split["train"]).documents
        val_docs = corpus.subset(split["val"]).documents
    else:
        split = make_split([d.doc_id for d in corpus.documents], seed=args.seed, fractions=(0.9, 0.1))
        if not split["val"] + split["test"] and len(split["train"]) > 1:  # a small folder: one validation document
            split["val"] = [split["train"].pop()]
        train_docs = corpus.subset(split["train"]).documents
        val_docs = corpus.subset(split["val"] + split["test"]).documents
    types = sorted({e.type for d in corpus.documents for e in d.entities}, key=_type_order)
    if not types:
        raise NerError(f"{args.data}: none of its {len(corpus.documents)} .ann files annotates an entity; there is "
                       "nothing to learn. Give a folder of annotated brat documents.")
    out = Path(args.out)
    if out.exists() and not (out / "model.pt").is_file():
        raise NerError(f"{out} exists and is not a model folder; give a new folder for --out (a model folder is "
                       "replaced as a whole).")
    ctx = init_distributed(args.device)
    say = print if ctx.is_main else (lambda *a, **k: None)
    try:
        say(f"recipe {name}")
        if ctx.distributed:
            say(f"data parallel: {ctx.world_size} processes on {ctx.device.type}, {chosen.batch_size} chunks per "
                f"global batch ({chosen.batch_size / ctx.world_size:g} per process)")
        run = train_recipe(chosen, train_docs, val_docs, seed=args.seed, types=types, ctx=ctx,
                           show_progress=not args.quiet, say=say)
        for row in run.result.history:
            say("epoch {epoch:.0f}  loss {loss:.4f}  train F1 {train_f1:.3f}  val F1 {val_f1:.3f}  "
                "{seconds:.0f} s".format(**row))
        say(f"best epoch {run.result.best_epoch} (validation chunk F1 {run.result.best_val_f1:.3f}); "
            f"{run.result.stopped}")
        if ctx.is_main:
            run.meta.update(recipe_name=args.recipe)
            save_model(out, run.model.cpu(), run.vocab, run.meta)  # a temporary sibling, renamed at the end
            say(f"model written to {out}")
        barrier(ctx)
    finally:
        shutdown(ctx)
    return 0


def _stderr(*parts: Any, **_: Any) -> None:
    print(*parts, file=sys.stderr)


def _cmd_predict(args: argparse.Namespace) -> int:
    from ...paths import staged_directory

    model, vocab, meta = load_model(args.model)
    root = Path(args.input)
    if not root.is_dir():
        raise NerError(f"{root} does not exist or is not a folder; give the folder of .txt files to tag.")
    txts = sorted(root.glob("*.txt"))
    if not txts:
        raise NerError(f"{root} holds no .txt files to tag.")
    output = Path(args.output)
    if output.exists():
        others = [p.name for p in output.iterdir() if p.suffix not in (".ann", ".txt")]
        if others or output.resolve() == root.resolve():
            raise NerError(f"{output} already holds other files ({', '.join(others[:3]) or 'the input'}); give a new "
                           "folder for --output (it is replaced as a whole).")
    device = _device(args.device)
    model.to(device)
    texts = [read_text_exact(p) for p in txts]
    entities, _ = predict_documents(model, vocab, texts, max_length=meta["max_length"],
                                    stride=meta.get("stride", 16), device=device, doc_ids=[p.stem for p in txts])
    with staged_directory(output) as tmp:  # nothing half-written: the folder appears whole or not at all
        for path, text, ents in zip(txts, texts, entities, strict=True):
            write_document(tmp, path.stem, text, ents, write_text=args.copy_text)
    print(f"wrote {len(txts)} .ann files ({sum(len(e) for e in entities)} entities) to {output}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    gold = read_folder(args.gold)
    _report_problems(gold, allow=args.allow_problems, what="gold folder", say=_stderr)
    if not any(d.entities for d in gold.documents):
        raise NerError(f"{args.gold}: none of its {len(gold.documents)} documents has a gold entity, so there is "
                       "nothing to score against; check --gold.")
    pred_root = Path(args.pred)
    if not pred_root.is_dir():
        raise NerError(f"{pred_root} is not a folder; give the folder of predicted .ann files (from `predict`).")
    gold_m, pred_m = [], []
    from ..brat import parse_ann

    covered, dropped = 0, []
    for doc in gold.documents:
        gold_m += mentions_of(doc.doc_id, doc.entities)
        ann = pred_root / f"{doc.doc_id}.ann"
        if ann.is_file():
            covered += 1
            ents, problems = parse_ann(read_text_exact(ann), doc.text, file=str(ann))
            dropped += [p for p in problems if p.kind in ("malformed", "offsets", "duplicate-id", "other-line")]
            pred_m += mentions_of(doc.doc_id, ents)
    if covered == 0:
        raise NerError(f"{pred_root} holds no .ann file for any of the {len(gold.documents)} gold documents; check "
                       "--pred (file names must be the gold documents' names with .ann).")
    if dropped:
        where = "; ".join(f"{p.file}:{p.line}: {p.kind}" for p in dropped[:5])
        more = f" (and {len(dropped) - 5} more)" if len(dropped) > 5 else ""
        if not args.allow_problems:
            raise NerError(f"{len(dropped)} prediction line(s) cannot be read: {where}{more}. Fix them (a line is "
                           "'T1<TAB>Type start end<TAB>mention'), or pass --allow-problems to score without them.")
        _stderr(f"warning: {len(dropped)} prediction lines could not be read and were not scored: {where}{more}")
    if covered < len(gold.documents):
        _stderr(f"warning: {len(gold.documents) - covered} of {len(gold.documents)} gold documents have no "
                f"prediction in {pred_root}; they count as all missed.")
    scores = score_mentions(gold_m, pred_m)
    order = [t for t in RUIJIN_TYPES if t in scores.per_type] + sorted(set(scores.per_type) - set(RUIJIN_TYPES))
    table = scores_table(scores, order)
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print("errors:", error_classes(gold_m, pred_m))
    print(f"micro-F1 {scores.micro_f1:.4f}  macro-F1 {scores.macro_f1:.4f}")
    return 0


TRAIN_EPILOG = """\
recipes (course_utils.ie.ner.tagger.RECIPES; the results page names the one each figure came from):
  python -m course_utils.ie.ner.tagger train --data $COURSE_DATA_DIR/ruijin_diabetes \\
      --split course_utils/ie/splits/ruijin_split.json --recipe ruijin-run7 --threads 2 --out model
  trains the recipe benchmarks/ch12_ruijin.py chose on validation and scored on test; any option
  overrides one field.

several GPUs (data parallel, one process per GPU, through course_utils.distributed):
  torchrun --standalone --nproc_per_node 4 -m course_utils.ie.ner.tagger train \\
      --data $COURSE_DATA_DIR/ruijin_diabetes --split course_utils/ie/splits/ruijin_split.json \\
      --recipe bert-base-chinese --out model
  Each process trains on its share of every global batch of --batch-size chunks, gradients are averaged, so a
  step equals one step on the whole batch on one GPU; rank 0 alone validates, prints and saves. On CPU the
  same command runs with gloo (--device cpu).
"""


#: problems that make a folder unfit for training or scoring unless --allow-problems: the entities are wrong
FATAL_PROBLEMS = ("malformed", "offsets", "missing-ann", "duplicate-id")


def _report_problems(corpus: Any, *, allow: bool, what: str, say: Any) -> None:
    """Print the reader's problems (counts by kind; file and line too when the corpus may be shown) and raise
    :class:`NerError` when one of :data:`FATAL_PROBLEMS` is among them and ``allow`` is False (chapter 12)."""
    if not corpus.problems:
        return
    kinds = Counter(p.kind for p in corpus.problems)
    say(f"{what}: {len(corpus.problems)} problem(s) in {corpus.root}: "
        + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    if corpus.redistributable:
        for problem in corpus.problems[:20]:
            say(f"  {problem}")
    else:
        say("  (a folder marked not redistributable: counts only; open the files yourself to see where)")
    fatal = {k: n for k, n in kinds.items() if k in FATAL_PROBLEMS}
    if fatal and not allow:
        first = next(p for p in corpus.problems if p.kind in fatal)
        where = f" (first: {first.file}:{first.line})" if corpus.redistributable else ""
        raise NerError(f"the {what} has {sum(fatal.values())} problem(s) that make its entities wrong or missing "
                       f"({', '.join(f'{n} {k}' for k, n in sorted(fatal.items()))}){where}. Fix the files, or pass "
                       "--allow-problems to go on without those entities (a .txt without .ann counts as "
                       "unannotated).")


def _type_order(t: str) -> tuple[int, str]:
    return (RUIJIN_TYPES.index(t), t) if t in RUIJIN_TYPES else (len(RUIJIN_TYPES), t)


def _device(prefer: str | None = None) -> Any:
    from ...device import pick_device

    try:
        return pick_device(prefer)
    except ValueError as exc:
        raise NerError(str(exc)) from None


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    from ...commands import non_negative_int

    parser.add_argument("--data", required=True, help="brat folder (.txt/.ann pairs)")
    parser.add_argument("--out", required=True, help="model folder to write (written beside, renamed at the end)")
    parser.add_argument("--split", help="JSON with train/val/test id lists (default: 90/10 random split)")
    parser.add_argument("--seed", type=non_negative_int, default=1234)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--allow-problems", action="store_true",
                        help="train even when the reader finds malformed lines, bad offsets or a .txt without .ann")
    add_recipe_arguments(parser)


def _predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder written by train")
    parser.add_argument("--input", required=True, help="folder of .txt files")
    parser.add_argument("--output", required=True, help="new folder for the .ann files")
    parser.add_argument("--copy-text", action="store_true", help="also copy the .txt files next to the .ann")


def _score_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gold", required=True, help="brat folder of gold .txt/.ann pairs")
    parser.add_argument("--pred", required=True, help="folder of predicted .ann files (from predict)")
    parser.add_argument("--allow-problems", action="store_true",
                        help="score even when the gold folder has malformed lines, bad offsets or missing .ann "
                             "files, or prediction lines cannot be read")


VERBS = (
    Verb("train", "train on a brat folder and save a model folder", _cmd_train, _train_arguments,
         description="Train encoder -> BiLSTM -> CRF on a brat folder with a named recipe and save a model folder.",
         epilog=TRAIN_EPILOG, threads=True, device=True),
    Verb("predict", "write predicted .ann files for a folder of .txt files", _cmd_predict, _predict_arguments,
         device=True),
    Verb("score", "score a brat folder of predictions against a gold folder", _cmd_score,
         _score_arguments),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a chapter-12 command (``train``, ``predict``, ``score``); return the exit status (2: bad input)."""
    return run_command("python -m course_utils.ie.ner.tagger", "Chapter 12: character NER on brat folders.", VERBS,
                       argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
