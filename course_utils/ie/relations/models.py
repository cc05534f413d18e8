"""Relation and novelty classifiers over all candidate entity pairs, one encoder pass per document (chapter 13).

Each document is encoded once with a typed marker token before every mention (``<GeneOrGeneProduct>``, ...);
an entity id is represented by the mean of the encoder states at the markers of its mentions, and every
candidate pair (the no-relation pairs included) is classified from ``[h1 + h2, h1 * h2, |h1 - h2|]`` (symmetric:
BioRED relations are undirected) by a relation head and a novelty head. Encoders: ``lstm`` and ``rnn``
(bidirectional, over learned word embeddings) and ``transformer`` (a small encoder trained from scratch), and
``pretrained``: a Hugging Face encoder (``model="minilm"``, the real all-MiniLM-L6-v2 installed with the course,
or a model manifest such as ``"biomedbert"`` in lab/full, loaded from its verified folder by
:mod:`course_utils.text.pretrained`) fine-tuned end to end. For it the typed markers are added to
the WordPiece vocabulary as special tokens (the embedding matrix grows by one row per marker), a document longer
than the model's positions is split into overlapping windows and each marker's state is taken from the window in
which it sits most centrally; AdamW with one learning rate for the encoder and another for the heads, linear
warm-up then decay, mixed precision on CUDA.

Where the code is: :mod:`.relation_inputs` (markers, encoding, windows) and :mod:`.relation_classifier` (the
encoders, heads, training, prediction, saving and loading); this module re-exports their public names and holds
the command.

Commands::

    python -m course_utils.ie.relations train --train FILE.PubTator --model lstm --out MODEL_DIR
    python -m course_utils.ie.relations train --train FILE.PubTator --model pretrained --encoder minilm --out DIR
    python -m course_utils.ie.relations predict --model-dir MODEL_DIR --input FILE.PubTator --out PRED.PubTator
    python -m course_utils.ie.relations score --gold GOLD.PubTator --pred PRED.PubTator

On several GPUs of one machine, the same ``train`` command under PyTorch's launcher trains one model data-parallel
(:mod:`course_utils.distributed`; ``--batch-size`` stays the global batch, shared among the processes; rank 0
prints and saves)::

    torchrun --standalone --nproc_per_node 4 -m course_utils.ie.relations train --train FILE.PubTator \
        --model pretrained --encoder biomedbert --out DIR
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from course_utils.commands import Verb, positive_int, probability, run_command
from course_utils.ie.biored import (
    BioDocument,
    biored_metrics,
    check_output,
    read_pubtator,
    relation_scores,
    write_pubtator,
)

from .relation_classifier import (
    RelationClassifier,
    _resolve_device,
    documents_with_relations,
    load_classifier,
    predict_relations,
    save_classifier,
    train_relations,
)
from .relation_inputs import (
    ENCODERS,
    KINDS,
    EncodedDocument,
    RelationModelError,
    marker_token,
    window_starts,
)

__all__ = ["ENCODERS", "KINDS", "RelationModelError", "EncodedDocument", "RelationClassifier", "train_relations",
           "predict_relations", "documents_with_relations", "marker_token", "window_starts", "save_classifier",
           "load_classifier", "main"]


def _read(path: str, *, what: str = "input") -> list[BioDocument]:
    docs = list(read_pubtator(path).documents)
    if what == "train" and not any(d.relations for d in docs):
        raise RelationModelError(f"{path} has no relation lines to learn from; give an annotated PubTator file "
                                 "(pmid<TAB>type<TAB>id1<TAB>id2<TAB>Novel|No lines)")
    if what in ("train", "input") and not any(len(d.entity_types()) > 1 for d in docs):
        raise RelationModelError(f"{path} has no document with two entity ids, so no candidate pair; the relation "
                                 "commands need the mentions (run the NER command first, or use "
                                 "python -m course_utils.ie.relations.pipeline predict on raw abstracts)")
    return docs


_MULTI_GPU_EPILOG = ("Several GPUs: torchrun --standalone --nproc_per_node N -m course_utils.ie.relations train ... "
                     "(--batch-size is the global batch, shared among the N processes; rank 0 saves).")


def _train_command(args: argparse.Namespace) -> None:
    """``train``: one process, or one of several under torchrun (rank 0 prints and saves)."""
    from course_utils.distributed import barrier, init_distributed, shutdown

    check_output(args.out, folder=True)
    docs = _read(args.train, what="train")
    ctx = init_distributed(_resolve_device(args.device, args.model))
    try:
        extra: dict[str, Any] = ({"model": args.encoder, "encoder_lr": args.encoder_lr,
                                  "encoder_layers": args.encoder_layers} if args.model == "pretrained" else {})
        if args.lr is not None:
            extra["lr"] = args.lr
        batch_size = args.batch_size or (4 if args.model == "pretrained" else 8)
        clf = train_relations(docs, kind=args.model, epochs=args.epochs, batch_size=batch_size,
                              seed=args.seed, device=ctx.device, dropout=args.dropout,
                              show_progress=not args.quiet, **extra)
        if ctx.is_main:
            save_classifier(clf, args.out)
            where = f" on {ctx.world_size} processes" if ctx.distributed else ""
            print(f"trained {args.model}{where} in {clf.train_seconds:.1f} s -> {args.out}")
        barrier(ctx)
    finally:
        shutdown(ctx)


def _predict_command(args: argparse.Namespace) -> None:
    check_output(args.out)
    docs = _read(args.input)  # the input first: a bad file is reported before a model is loaded
    clf = load_classifier(args.model_dir, device=args.device)
    start = time.perf_counter()
    pairs = predict_relations(clf, docs)
    seconds = time.perf_counter() - start
    write_pubtator(documents_with_relations(docs, pairs), args.out)
    print(f"{len(docs)} abstracts in {seconds:.2f} s ({len(docs) / max(seconds, 1e-9):.1f} abstracts/s) "
          f"-> {args.out}")


def _score_command(args: argparse.Namespace) -> None:
    gold, pred = _read(args.gold, what="gold"), _read(args.pred, what="prediction")
    if not any(d.relations for d in gold):
        raise RelationModelError(f"{args.gold} has no relation lines: there is nothing to score against; give the "
                                 "annotated gold file")
    known = {d.doc_id for d in gold}
    extra = sorted({d.doc_id for d in pred} - known)
    if extra:
        raise RelationModelError(f"{args.pred}: {len(extra)} document(s) not in {args.gold}, e.g. {extra[0]}; score "
                                 "a prediction against the file it was made from")
    missing = len(known - {d.doc_id for d in pred})
    if missing:
        print(f"warning: {missing} of {len(known)} gold documents are not in {args.pred}; their relations count as "
              "missed", file=sys.stderr)
    for name, score in biored_metrics(gold, pred).items():
        print(f"{name}\tP={score.precision:.3f}\tR={score.recall:.3f}\tF1={score.f1:.3f}")
    rs = relation_scores(gold, pred)
    print(f"relation micro-F1={rs.micro_f1:.3f} macro-F1={rs.macro_f1:.3f}")


def _train_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("--train", required=True, help="annotated PubTator file (mentions and relations)")
    t.add_argument("--model", default="lstm", choices=KINDS)
    t.add_argument("--encoder", default="minilm", help="pretrained encoder for --model pretrained: minilm, a model "
                   "manifest name (biomedbert, fetched with `python -m course_utils.data fetch biomedbert`) or a "
                   "folder")
    t.add_argument("--epochs", type=positive_int, default=8)
    t.add_argument("--batch-size", type=positive_int, default=None,
                   help="documents per step, over all processes (default 4 for pretrained, 8 otherwise)")
    t.add_argument("--lr", type=float, default=None, help="learning rate of the heads (and of the models trained "
                   "from scratch; default 3e-3)")
    t.add_argument("--encoder-lr", type=float, default=1e-4, help="encoder learning rate (--model pretrained)")
    t.add_argument("--encoder-layers", type=positive_int, default=None, help="keep the encoder's first N layers")
    t.add_argument("--dropout", type=probability, default=0.1, help="dropout of the pair head (and the Transformer)")
    t.add_argument("--seed", type=int, default=1234)
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--out", required=True, help="model folder to write")


def _predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-dir", required=True, help="folder written by the train command")
    p.add_argument("--input", required=True, help="PubTator file with the entity mentions")
    p.add_argument("--out", required=True, help="PubTator file to write")


def _score_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--gold", required=True, help="gold PubTator file")
    s.add_argument("--pred", required=True, help="predicted PubTator file (from the predict command)")


VERBS = (
    Verb("train", "train a relation + novelty classifier on a PubTator file", _train_command, _train_arguments,
         epilog=_MULTI_GPU_EPILOG, threads=True, device=True),
    Verb("predict", "predict relations and novelty between the entities of a PubTator file", _predict_command,
         _predict_arguments, device=True),
    Verb("score", "score predicted relations against gold (BioRED's metrics, P/R/F1)", _score_command,
         _score_arguments),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chapter-13 commands train / predict / score; return the exit status (2 on bad input) (chapter 13)."""
    return run_command("python -m course_utils.ie.relations", __doc__.split("\n")[0], VERBS, argv)


if __name__ == "__main__":
    sys.exit(main())
