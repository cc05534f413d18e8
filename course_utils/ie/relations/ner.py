"""BioRED NER as word-piece token classification, a dictionary baseline, entity ids, scores, commands (chapter 13).

The model is a pretrained encoder (default: the installed all-MiniLM-L6-v2, ``model="minilm"``; in lab/full the
manifest ``"biomedbert"``, loaded from its verified folder by :mod:`course_utils.text.pretrained`) with a linear layer over BIO tags of the six BioRED entity types (13 tags), built by
``AutoModelForTokenClassification`` and trained with a plain PyTorch loop (AdamW, linear warm-up and decay,
gradient clipping, bf16/fp16 autocast on a GPU).

Labelling policy (stated once, used by training and decoding alike):

* a *word* is what the tokenizer's pre-tokenizer yields (BERT: a run of letters and digits, or one punctuation
  mark; ``IL-6`` is three words), split further into word pieces (``rfmomab`` -> ``rf ##mo ##ma ##b``);
* **the first piece of each word carries the word's tag** (``B-type`` for the first word of a mention, ``I-type``
  for the others, ``O`` outside); the other pieces are not labelled (no loss) and their predictions are not used.
  With every piece labelled a model must also learn ``I`` on each ``##`` piece, and an argmax that misses one
  cuts a name in two: in the same short training on the smoke data that gave entity F1 0.35 against 0.58;
* a word that overlaps a mention belongs to it; a mention whose ends fall inside a word is widened to whole words
  (counted in :class:`TagStats` as ``misaligned``); of overlapping mentions the longer (then the earlier) is
  kept and the others are counted as ``overlapping``;
* predicted word tags are decoded (a stray ``I-X`` opens a mention) and each span becomes
  ``text[start of its first word : end of its last word]``; character offsets come from the tokenizer's
  ``return_offsets_mapping``, so ``doc.text[m.start:m.end] == m.text`` always holds and spans carry no outer
  whitespace.

Long abstracts (BioRED has some over 512 pieces) are cut by the tokenizer itself into overlapping windows
(``return_overflowing_tokens=True``, ``stride`` pieces shared by neighbours); every piece is predicted once,
from the window in which it lies farthest from an edge (:func:`course_utils.ie.bio.merge_windows`).

Predicted mentions get entity ids from an :class:`IdDictionary` fitted on the training mentions (normalised
surface + type -> most frequent ids), or a placeholder ``?type:surface`` shared by equal surfaces, so relation
extraction can run on predicted entities. :class:`DictionaryTagger` is the baseline: longest-match,
case-insensitive lookup of every training surface.

The code sits in three modules beside this one, whose public names this module re-exports:
:mod:`.ner_encoding` (the policy below in code: tags, windows, decoding, entity ids), :mod:`.ner_model` (the
model, its training, prediction, saving and loading) and :mod:`.ner_baseline` (the dictionary tagger and the
entity scores). This module holds the reading of input files and the command.

Commands (``python -m course_utils.ie.relations.ner --help``)::

    python -m course_utils.ie.relations.ner train   --train FILE --out DIR [--model minilm] [--epochs 3]
    python -m course_utils.ie.relations.ner predict --model-dir DIR --input FILE --out FILE.PubTator
    python -m course_utils.ie.relations.ner score   --gold FILE --pred FILE.PubTator

Input files are PubTator by default; ``--format litcoin`` reads LitCoin abstracts (``--entities`` names the
entities file where gold mentions are needed).

On several GPUs of one machine, ``train`` runs data-parallel under PyTorch's launcher (:mod:`course_utils.distributed`;
``--batch-size`` stays the global batch, shared among the processes; rank 0 prints and saves)::

    torchrun --standalone --nproc_per_node 4 -m course_utils.ie.relations.ner train --train FILE --out DIR --model biomedbert
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ...commands import Verb, non_negative_int, positive_int, run_command
from ..biored import (
    ENTITY_TYPES,
    BioDocument,
    check_output,
    read_litcoin,
    read_pubtator,
    write_pubtator,
)
from ..scoring import error_classes, scores_table
from .ner_baseline import (
    DictionaryTagger,
    entity_scores,
    to_scoring_mentions,
    unseen_entity_scores,
)
from .ner_encoding import (
    TAGS,
    Encoding,
    IdDictionary,
    NerBioredError,
    TagStats,
    decode_windows,
    decode_words,
    encode_documents,
    normalise_surface,
)
from .ner_model import (
    SMOKE_TRAINING,
    BioNerModel,
    Throughput,
    load_ner,
    predict_mentions,
    save_ner,
    throughput,
    train_ner,
)

__all__ = [
    "NerBioredError",
    "TAGS",
    "SMOKE_TRAINING",
    "normalise_surface",
    "TagStats",
    "Encoding",
    "encode_documents",
    "decode_words",
    "decode_windows",
    "IdDictionary",
    "BioNerModel",
    "train_ner",
    "predict_mentions",
    "Throughput",
    "throughput",
    "DictionaryTagger",
    "to_scoring_mentions",
    "entity_scores",
    "unseen_entity_scores",
    "save_ner",
    "load_ner",
    "read_documents",
    "main",
]


# ------------------------------------------------------------------------------------------------ commands


def read_documents(path: str | os.PathLike[str], *, format: str = "pubtator",
                   entities: str | os.PathLike[str] | None = None) -> list[BioDocument]:
    """Return the documents of a PubTator file, or of LitCoin abstracts (+ entities) files (chapter 13).

    Reader problems raise :class:`~course_utils.ie.biored.BioREDFormatError` listing file and line of each.
    """
    file = Path(path)
    for named in (file, Path(entities) if entities else None):
        if named is not None and not named.is_file():
            raise NerBioredError(f"no such file: {named}. Give a PubTator file (or, with --format litcoin, the "
                                 "abstracts file and --entities).")
    if format == "pubtator":
        if entities:
            raise NerBioredError(f"--entities {entities} is for --format litcoin; a PubTator file holds its "
                                 "mentions itself")
        return list(read_pubtator(file).documents)
    if format == "litcoin":
        return list(read_litcoin(file, entities).documents)
    raise NerBioredError(f"unknown format {format!r}; use 'pubtator' or 'litcoin'.")


def _cmd_train(args: argparse.Namespace) -> int:
    from ...device import pick_device
    from ...distributed import barrier, init_distributed, shutdown

    check_output(args.out, folder=True)
    docs = read_documents(args.train, format=args.format, entities=args.entities)
    if not any(d.mentions for d in docs):
        raise NerBioredError(f"{args.train} has no entity mentions to learn from"
                             + (" (pass --entities with the LitCoin entities file)." if args.format == "litcoin"
                                else "."))
    ctx = init_distributed(pick_device(args.device))
    try:
        model = train_ner(docs, model=args.model, epochs=args.epochs, batch_size=args.batch_size,
                          max_length=args.max_length, stride=args.stride, lr=args.lr, head_lr=args.head_lr,
                          freeze_layers=args.freeze_layers, seed=args.seed, device=ctx.device,
                          show_progress=not args.quiet)
        if ctx.is_main:
            where = f" on {ctx.world_size} processes" if ctx.distributed else ""
            print(f"{len(docs)} training abstracts; labelling: {TagStats(**model.stats)}")
            for row in model.history:
                print("epoch {epoch:.0f}  loss {loss:.4f}  {seconds:.1f} s".format(**row))
            save_ner(model, args.out)
            print(f"trained{where} in {model.train_seconds:.1f} s; model written to {args.out}")
        barrier(ctx)
    finally:
        shutdown(ctx)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    check_output(args.out)
    docs = read_documents(args.input, format=args.format)  # a bad input is reported before a model is loaded
    model = load_ner(args.model_dir, device=args.device)
    predicted = predict_mentions(model, docs, batch_size=args.batch_size, show_progress=not args.quiet)
    write_pubtator(predicted, args.out)
    print(f"{sum(len(d.mentions) for d in predicted)} mentions in {args.out}; {model.last_throughput}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    gold = read_documents(args.gold, format=args.format, entities=args.entities)
    if not any(d.mentions for d in gold):
        raise NerBioredError(f"{args.gold} has no entity mentions: nothing to score against"
                             + (" (pass --entities with the LitCoin entities file)." if args.format == "litcoin"
                                else "; give the annotated gold file."))
    pred = read_documents(args.pred)
    missing = len({d.doc_id for d in gold} - {d.doc_id for d in pred})
    scores = entity_scores(gold, pred)
    if missing:
        print(f"warning: {missing} of {len(gold)} gold documents are not in {args.pred}; their mentions count as "
              "missed", file=sys.stderr)
    order = [t for t in ENTITY_TYPES if t in scores.per_type] + sorted(set(scores.per_type) - set(ENTITY_TYPES))
    print(scores_table(scores, order).to_string(float_format=lambda v: f"{v:.3f}"))
    print("errors:", error_classes(to_scoring_mentions(gold), to_scoring_mentions(pred)))
    print(f"micro-F1 {scores.micro_f1:.4f}  macro-F1 {scores.macro_f1:.4f}")
    return 0


def _add_format(p: argparse.ArgumentParser, entities: bool) -> None:
    p.add_argument("--format", choices=("pubtator", "litcoin"), default="pubtator",
                   help="input layout: a PubTator file (default) or LitCoin tab-separated files")
    if entities:
        p.add_argument("--entities", help="LitCoin entities file (with --format litcoin)")


def _train_arguments(tr: argparse.ArgumentParser) -> None:
    tr.add_argument("--train", required=True, help="PubTator file, or LitCoin abstracts file")
    _add_format(tr, True)
    tr.add_argument("--out", required=True, help="model folder to write")
    tr.add_argument("--model", default="minilm", help="encoder: minilm (installed), a model manifest such as "
                    "biomedbert (fetched with `python -m course_utils.data fetch biomedbert`) or a local folder")
    tr.add_argument("--epochs", type=positive_int, default=3)
    tr.add_argument("--batch-size", type=positive_int, default=16, help="windows per step, over all processes")
    tr.add_argument("--max-length", type=positive_int, default=256,
                    help="word pieces per window, special tokens included")
    tr.add_argument("--stride", type=non_negative_int, default=None, help="pieces shared by neighbouring windows")
    tr.add_argument("--lr", type=float, default=1e-4, help="encoder learning rate")
    tr.add_argument("--head-lr", type=float, default=1e-3, help="tag layer learning rate")
    tr.add_argument("--freeze-layers", type=non_negative_int, default=0,
                    help="keep the embeddings and this many lower layers as pretrained (faster on a CPU)")
    tr.add_argument("--seed", type=int, default=1234)
    tr.add_argument("--quiet", action="store_true", help="no progress bar")


def _predict_arguments(pr: argparse.ArgumentParser) -> None:
    pr.add_argument("--model-dir", required=True, help="folder written by the train command")
    pr.add_argument("--input", required=True, help="PubTator file, or LitCoin abstracts file")
    _add_format(pr, False)
    pr.add_argument("--out", required=True, help="PubTator file to write")
    pr.add_argument("--batch-size", type=positive_int, default=32)
    pr.add_argument("--quiet", action="store_true")


def _score_arguments(sc: argparse.ArgumentParser) -> None:
    sc.add_argument("--gold", required=True, help="gold PubTator file, or LitCoin abstracts file")
    _add_format(sc, True)
    sc.add_argument("--pred", required=True, help="predicted PubTator file (from the predict command)")


VERBS = (
    Verb("train", "train a tagger on annotated abstracts and save a model folder", _cmd_train, _train_arguments,
         epilog="Several GPUs: torchrun --standalone --nproc_per_node N -m course_utils.ie.relations.ner train ... "
                "(--batch-size is the global batch, shared among the N processes; rank 0 saves).",
         threads=True, device=True),
    Verb("predict", "tag abstracts and write a PubTator file of predicted mentions", _cmd_predict,
         _predict_arguments, device=True),
    Verb("score", "exact span + type P/R/F1 of a predicted PubTator file", _cmd_score, _score_arguments),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a chapter-13 NER command (``train``, ``predict``, ``score``); return the exit status (2 on bad input)."""
    return run_command("python -m course_utils.ie.relations.ner",
                       "Chapter 13: BioRED entity tagging (word-piece BIO tags).", VERBS, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
