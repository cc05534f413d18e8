"""Entity linking as nearest-neighbour search over a dictionary of names, and how to score it (chapter 14).

A linker ranks concept ids for a mention. Three are built here, from the simplest up:

* :class:`ExactMatchLinker` -- the normalised mention equals a normalised dictionary name;
* :class:`TfidfLinker` -- cosine over character 2-4-gram TF-IDF vectors (BioSyn's sparse half);
* :class:`DenseLinker` -- cosine between encoder vectors (an untrained encoder, or one self-aligned by
  :mod:`course_utils.ie.linking.self_align`), exact search batched on the device;

and :class:`CombinedLinker` adds a weighted sparse score to the dense one. :class:`ContextLinker` wraps any of the
last three with two things a mention's annotation context offers: it scores each mention by its better
variant (as written, or with the abbreviations of its abstract expanded) and adds a small prior to ids that the
training annotations use. Names are ranked, then collapsed to
concept ids (a concept scores its best name), so Acc@5 means "a gold id among the first five distinct ids".

Scoring rules, stated once: **lenient** -- correct when any gold id of the mention is among the top k (a
composite mention such as "breast and ovarian cancer", ids D001943|D010051, is right if either id is found);
**strict** -- a composite mention is split into its parts (:func:`~course_utils.ie.linking.data.split_composite`),
each part linked to its top id, and it is right only when every gold id is among them.

**Pooling**: an encoder's names are embedded with the pooling it was trained with (:func:`model_pooling`):
the mean of the token vectors for MiniLM, the [CLS] vector for SapBERT and for an encoder the course
self-aligns with SapBERT's recipe.

Where the code is: :mod:`.rankers` (the five linkers and the pooling rule), :mod:`.scores` (Acc@k, strict
accuracy, the document bootstrap of a margin), :mod:`.files` (the dictionary, mention and PubTator files a student
brings) and :mod:`.recipes` (the named recipes and :func:`build_linker`); this module re-exports their public
names and holds the command, ``python -m course_utils.ie.linking link | train | score``.

The exact search is a matrix product: fine up to a few million names on one GPU; beyond that (all of UMLS, 10 M+
names, 768 floats each: 30 GB) an approximate index (FAISS IVF/HNSW) trades a little recall for memory and speed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from ...commands import Verb, non_negative_int, positive_int, run_command
from .data import parse_ids
from .files import (
    DocumentMentions,
    _read_text,
    is_pubtator,
    read_dictionary_tsv,
    read_document_mentions,
    read_mention_lines,
)
from .rankers import (
    TRAINED_POOLING,
    CombinedLinker,
    ContextLinker,
    DenseLinker,
    ExactMatchLinker,
    LinkingError,
    Ranking,
    TfidfLinker,
    model_pooling,
)
from .recipes import (
    RECIPES,
    LinkerRecipe,
    build_linker,
    recipe,
)
from .scores import (
    LinkingScores,
    MarginInterval,
    accuracy_at_k,
    document_bootstrap_accuracy,
    document_bootstrap_margin,
    evaluate,
    hardest_errors,
    hits_at_k,
    pair_cosines,
    strict_accuracy,
    synonym_auc,
)

__all__ = [
    "LinkingError",
    "Ranking",
    "ExactMatchLinker",
    "TfidfLinker",
    "DenseLinker",
    "CombinedLinker",
    "ContextLinker",
    "accuracy_at_k",
    "strict_accuracy",
    "hits_at_k",
    "MarginInterval",
    "document_bootstrap_margin",
    "document_bootstrap_accuracy",
    "evaluate",
    "LinkingScores",
    "pair_cosines",
    "synonym_auc",
    "hardest_errors",
    "read_dictionary_tsv",
    "read_mention_lines",
    "read_document_mentions",
    "DocumentMentions",
    "is_pubtator",
    "LinkerRecipe",
    "RECIPES",
    "recipe",
    "build_linker",
    "TRAINED_POOLING",
    "model_pooling",
    "main",
]


def _device(choice: str | None) -> Any:
    """Return the device of ``--device`` (or COURSE_DEVICE, else the GPU), as a command-line error if unavailable."""
    from ...device import pick_device

    try:
        return pick_device(choice)
    except (ValueError, RuntimeError) as exc:
        raise LinkingError(f"--device {choice!r}: {exc}") from None


_TRAIN_EPILOG = """\
Several GPUs (data parallel, one process per GPU; --batch-size stays the global batch, so the steps are those of
one process):
  torchrun --standalone --nproc_per_node 4 -m course_utils.ie.linking train --pairs pairs.tsv \\
      --model biomedbert --out aligned/
Every process embeds its share of each batch; the shares are gathered with their gradients, so hard-pair mining
and the multi-similarity loss see the whole global batch, as on one GPU."""

_LINK_EPILOG = "recipes (--recipe NAME; --linker, --model, --tfidf-weight, --prior, --citation override them):\n" + \
    "\n".join(f"  {r.name:22s} {r.description}" for r in RECIPES.values()) + """

Mentions: one per line, or a PubTator file (PMID|t|title, PMID|a|abstract, then
PMID<TAB>start<TAB>end<TAB>text<TAB>type[<TAB>ids] per mention), which gives each mention its document: the
context recipes need it (abbreviations expanded in their abstract, cited OMIM ids)."""

_POOLING_HELP = ("how a name becomes one vector: 'cls' (the [CLS] vector, SapBERT's recipe) or 'mean' (the mean "
                 "of the token vectors, MiniLM's); 'auto' (default): what the model was trained with (recorded "
                 "by `train`, or known for minilm, sapbert, biomedbert)")


def _link_arguments(link: argparse.ArgumentParser) -> None:
    link.add_argument("--dictionary", required=True, type=Path, help="TSV: id<TAB>name per line")
    link.add_argument("--mentions", required=True, type=Path,
                      help="text file with one mention per line, or a PubTator file (mentions with their documents)")
    link.add_argument("--recipe", default="dense", choices=tuple(RECIPES), help="a named linker (default: dense)")
    link.add_argument("--linker", choices=("exact", "tfidf", "dense", "combined"), default=None,
                      help="override the recipe's kind")
    link.add_argument("--model", default=None,
                      help="encoder: 'minilm' (default), a model manifest fetched with `python -m course_utils.data "
                           "fetch NAME` (sapbert, biomedbert), or a folder saved by `train`")
    link.add_argument("--pooling", choices=("auto", "cls", "mean"), default=None, help=_POOLING_HELP)
    link.add_argument("--tfidf-weight", type=float, default=None, help="override the TF-IDF weight of combined")
    link.add_argument("--prior", type=float, default=None, help="override the context prior for --known-ids")
    link.add_argument("--citation", type=float, default=None, help="override the context bonus for cited OMIM ids")
    link.add_argument("--known-ids", type=Path, default=None,
                      help="context recipes: TSV id<TAB>name of the training annotations; their ids get the prior "
                           "(e.g. the pairs file of `train`)")
    link.add_argument("--top-k", type=positive_int, default=5)
    link.add_argument("--out", type=Path, default=None, help="TSV output (default: standard output)")


def _train_arguments(train: argparse.ArgumentParser) -> None:
    train.add_argument("--pairs", required=True, type=Path,
                       help="TSV: id<TAB>name per line; names sharing an id are synonyms")
    train.add_argument("--model", default="minilm", help="encoder to start from (as for `link`)")
    train.add_argument("--out", required=True, type=Path, help="folder for the trained encoder (must not exist)")
    train.add_argument("--pooling", choices=("auto", "cls", "mean"), default="auto",
                       help=_POOLING_HELP + "; a model with none recorded trains with 'cls'. Recorded in --out.")
    train.add_argument("--epochs", type=positive_int, default=1)
    train.add_argument("--batch-size", type=positive_int, default=64,
                       help="synonym pairs per step, over all processes (default 64)")
    train.add_argument("--learning-rate", type=float, default=2e-5)
    train.add_argument("--weight-decay", type=float, default=0.01)
    train.add_argument("--max-steps", type=positive_int, default=None, help="stop after this many steps")
    train.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw",
                       help="AdamW (default) or plain SGD")
    train.add_argument("--seed", type=int, default=1234)
    train.add_argument("--dictionary", type=Path, default=None,
                       help="TSV id<TAB>name: the dictionary that --dictionary-negatives searches")
    train.add_argument("--dictionary-negatives", type=non_negative_int, default=0, metavar="K",
                       help="each pair brings one of its anchor's K nearest dictionary names of another id (needs "
                            "--dictionary; default 0: in-batch mining only)")


def _score_arguments(score: argparse.ArgumentParser) -> None:
    score.add_argument("--predictions", required=True, type=Path, help="the TSV written by `link`")
    score.add_argument("--gold", required=True, type=Path,
                       help="TSV mention<TAB>ids per line, or the PubTator file (with ids) that `link` read")


def main(argv: list[str] | None = None) -> int:
    """Run the linking commands: ``link`` mentions to top-k ids, ``train`` an encoder, ``score`` predictions.

    ``train`` runs data-parallel under ``torchrun --standalone --nproc_per_node N -m course_utils.ie.linking
    train ...`` (chapter 14). Bad input: one line naming the file, line or id and what to do, exit status 2.
    """
    verbs = [
        Verb("link", "link each mention to its top-k concept ids and names", _cmd_link, _link_arguments,
             epilog=_LINK_EPILOG, device=True),
        Verb("train", "self-align an encoder on synonym pairs (TSV: id<TAB>name per line)", _cmd_train,
             _train_arguments, epilog=_TRAIN_EPILOG, device=True),
        Verb("score", "score a `link` output against gold ids", _cmd_score, _score_arguments),
    ]
    return run_command("python -m course_utils.ie.linking", "Entity linking by nearest names (chapter 14).", verbs,
                       argv)


def _check_out_file(out: Path | None) -> None:
    if out is None:
        return
    if out.is_dir():
        raise LinkingError(f"--out {out} is a folder; give a file name, e.g. {out / 'links.tsv'}.")
    if not out.parent.is_dir():
        raise LinkingError(f"The folder of --out, {out.parent}, does not exist; create it or choose another.")


def _cmd_link(args: argparse.Namespace) -> int:
    vocab = read_dictionary_tsv(args.dictionary)
    chosen = recipe(args.recipe, kind=args.linker, model=args.model, pooling=args.pooling,
                    tfidf_weight=args.tfidf_weight, prior=args.prior, citation=args.citation)
    documents = read_document_mentions(args.mentions) if is_pubtator(args.mentions) else None
    mentions = list(documents.queries) if documents else read_mention_lines(args.mentions)
    if chosen.context and documents is None:
        raise LinkingError(f"Recipe {chosen.name!r} uses each mention's abstract, but {args.mentions} is one mention "
                           "a line; pass a PubTator file (PMID|t|, PMID|a| lines, then the mentions) or a recipe "
                           "without context.")
    known = read_dictionary_tsv(args.known_ids).ids if args.known_ids is not None else ()
    if chosen.context and args.known_ids is None:
        print("note: no --known-ids, so the context prior favours no id", file=sys.stderr)
    _check_out_file(args.out)
    device = _device(args.device) if chosen.kind in ("dense", "combined") else None
    linker = build_linker(chosen, vocab, known_ids=known, device=device)
    if isinstance(linker, ContextLinker):
        ranking = linker.rank(mentions, k=args.top_k, variants=list(documents.variants), cited=list(documents.cited))
    else:
        ranking = linker.rank(mentions, k=args.top_k)
    where = documents.where if documents else [()] * len(mentions)
    rows = [(m, rank + 1, cid, name, f"{score:.4f}", *spot) for m, ids, names, scores, spot in
            zip(mentions, ranking.ids, ranking.names, ranking.scores, where)
            for rank, (cid, name, score) in enumerate(zip(ids, names, scores))]
    header = ("mention", "rank", "id", "name", "score") + (("document", "start", "end") if documents else ())
    if args.out is None:
        writer = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return 0
    tmp = args.out.with_name(args.out.name + ".tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        tmp.replace(args.out)
    finally:
        tmp.unlink(missing_ok=True)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from ...distributed import barrier, init_distributed, main_process_first, shutdown
    from ...text.pretrained import load_encoder
    from .self_align import SelfAlignSettings, save_encoder, self_align, synonym_pairs

    vocab = read_dictionary_tsv(args.pairs)
    if not synonym_pairs(list(zip(vocab.names, vocab.ids)), max_pairs_per_concept=1):
        raise LinkingError(f"{args.pairs} has no synonyms: no id has two different names, so there is no pair to "
                           "align; add rows that give an id a second name (id<TAB>other name).")
    if args.dictionary_negatives > 0 and args.dictionary is None:
        raise LinkingError("--dictionary-negatives K > 0 needs a --dictionary to search.")
    dictionary = read_dictionary_tsv(args.dictionary) if args.dictionary is not None else None
    if args.out.exists():
        raise LinkingError(f"{args.out} exists; choose a new folder (a trained model is never overwritten).")
    if not args.out.parent.is_dir():
        raise LinkingError(f"The folder of --out, {args.out.parent}, does not exist; create it or choose another.")
    if args.pooling == "auto":
        try:
            pooling = model_pooling(args.model)
        except LinkingError:
            pooling = "cls"  # SapBERT's recipe, for a model that was never trained to embed names
    else:
        pooling = args.pooling
    ctx = init_distributed(_device(args.device))  # one process without torchrun; under torchrun, its local GPU
    try:
        with main_process_first(ctx):
            encoder = load_encoder(args.model, device=ctx.device)
        settings = SelfAlignSettings(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                                     weight_decay=args.weight_decay, seed=args.seed, pooling=pooling,
                                     max_steps=args.max_steps, optimizer=args.optimizer,
                                     dictionary_negatives=args.dictionary_negatives)
        history = self_align(encoder, list(zip(vocab.names, vocab.ids)), settings, dictionary=dictionary, context=ctx)
        if ctx.is_main:
            save_encoder(encoder, args.out, pooling=pooling,
                         details={"base_model": str(args.model), "steps": history.steps, "processes": ctx.world_size,
                                  "batch_size": args.batch_size, "epochs": args.epochs,
                                  "learning_rate": args.learning_rate, "weight_decay": args.weight_decay,
                                  "optimizer": args.optimizer, "seed": args.seed,
                                  "dictionary_negatives": args.dictionary_negatives,
                                  "trained_by": "python -m course_utils.ie.linking train"})
            print(f"trained {history.steps} steps on {ctx.world_size} process(es), final loss "
                  f"{history.losses[-1]:.4f}; saved to {args.out} ({pooling} pooling)")
        barrier(ctx)
    finally:
        shutdown(ctx)
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    pred_text = _read_text(args.predictions, "prediction file written by `link`")
    lines = pred_text.splitlines()
    if not lines or not lines[0].startswith("mention\trank\tid"):
        raise LinkingError(f"{args.predictions}:1: not a `link` output (its header 'mention<TAB>rank<TAB>id...' is "
                           "missing); pass the file written by `link --out`.")
    ranked: dict[Any, list[str]] = {}
    by_place = lines[0].rstrip().endswith("document\tstart\tend")
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < (8 if by_place else 3):
            raise LinkingError(f"{args.predictions}:{lineno}: expected the columns of `link` (mention, rank, id, ...).")
        key = (cols[5], cols[6], cols[7]) if by_place else cols[0]
        ranked.setdefault(key, []).append(cols[2])
    gold_rows: list[tuple[Any, tuple[str, ...]]] = []
    if is_pubtator(args.gold):
        documents = read_document_mentions(args.gold)
        for (doc, s, e), q, ids in zip(documents.where, documents.queries, documents.gold):
            if not ids:
                raise LinkingError(f"{args.gold}: mention {q!r} of document {doc} at {s}-{e} has no gold ids; give "
                                   "every mention line a sixth column of ids.")
            gold_rows.append(((doc, str(s), str(e)) if by_place else q, ids))
    else:
        for lineno, line in enumerate(_read_text(args.gold, "gold file (mention<TAB>ids)").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 2:
                raise LinkingError(f"{args.gold}:{lineno}: expected 'mention<TAB>ids', found {len(cols)} column(s).")
            ids, _ = parse_ids(cols[1], where=f"{args.gold}:{lineno}")
            gold_rows.append((cols[0].strip(), ids))
    if not gold_rows:
        raise LinkingError(f"{args.gold} has no gold rows; write one 'mention<TAB>ids' line per mention.")
    missing = [m for m, _ in gold_rows if m not in ranked]
    if missing:
        raise LinkingError(f"{len(missing)} gold mentions have no prediction in {args.predictions}, e.g. "
                           f"{missing[0]!r}; run `link` on the same mentions.")
    r = [ranked[m] for m, _ in gold_rows]
    g = [ids for _, ids in gold_rows]
    depth = max(len(x) for x in r)
    at5 = (f"Acc@5 {accuracy_at_k(r, g, 5):.4f}" if depth >= 5
           else f"Acc@{depth} {accuracy_at_k(r, g, depth):.4f} (`link` kept {depth} ids a mention)")
    print(f"mentions {len(g)}  Acc@1 {accuracy_at_k(r, g, 1):.4f}  {at5}  (lenient: any gold id)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
