"""Named recipes of the chapter-12 tagger: one frozen description of a model and its training that the
command (``train --recipe NAME``), the benchmark and the notebook share (chapter 12).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from ..bio import (
    RUIJIN_TYPES,
    EncodeStats,
)
from ..brat import BratDocument
from ..linebreaks import remove_line_breaks
from .model import CharVocab, NerError, NerModel, build_model, pretrain_embeddings
from .training import TrainConfig, TrainResult, make_examples, train_ner

__all__ = ["Recipe", "RECIPES", "RARE_RUIJIN_TYPES", "recipe", "notebook_recipe", "add_recipe_arguments", "recipe_from_args",
           "RecipeRun", "train_recipe"]

#: the six Ruijin types with fewer than 1,000 mentions (Frequency 409 ... Treatment 969)
RARE_RUIJIN_TYPES: tuple[str, ...] = ("Frequency", "Operation", "SideEff", "Method", "Duration", "Treatment")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides which model training produces, given the data and a seed (chapter 12).

    A recipe names the encoder, the model's sizes, the chunking, the training knobs and the time cap. The
    named recipes live in :data:`RECIPES`, the one place the train command (``--recipe NAME``), the real-data
    benchmark (``benchmarks/ch12_ruijin.py --recipe NAME``) and the notebook take them from, so a
    student's command trains what the results page measured. :func:`train_recipe` is the one way to train one.
    """

    description: str = ""
    encoder: str = "char"
    use_lstm: bool = True
    embedding_dim: int = 128
    lstm_hidden: int = 128
    dropout: float = 0.2
    bigram_min_count: int | None = None
    bigram_dim: int = 50
    pretrain_epochs: int = 0
    max_length: int = 128
    stride: int = 16
    epochs: int = 10
    batch_size: int = 32
    lr_encoder: float = 1e-3
    lr_head: float = 1e-3
    lr_decay: float = 1.0
    patience: int = 3
    ema_decay: float | None = None
    rare_types: tuple[str, ...] = ()
    rare_oversample: int = 1
    max_minutes: float | None = None

    def model_options(self) -> dict[str, Any]:
        """Return the keyword arguments of :func:`build_model` this recipe sets."""
        return dict(max_length=self.max_length, lstm_hidden=self.lstm_hidden, embedding_dim=self.embedding_dim,
                    use_lstm=self.use_lstm, dropout=self.dropout, bigram_min_count=self.bigram_min_count,
                    bigram_dim=self.bigram_dim)

    def train_config(self, seed: int = 1234) -> TrainConfig:
        """Return the :class:`TrainConfig` of this recipe for ``seed``."""
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr_encoder=self.lr_encoder,
                           lr_head=self.lr_head, patience=self.patience, lr_decay=self.lr_decay,
                           ema_decay=self.ema_decay, max_minutes=self.max_minutes, rare_types=self.rare_types,
                           rare_oversample=self.rare_oversample, seed=seed)

    def settings(self) -> dict[str, Any]:
        """Return the recipe as a plain dict (for a benchmark record or a model folder's config)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k != "description"}


def _ruijin(description: str, **changes: Any) -> Recipe:
    base = Recipe(description=description, embedding_dim=100, lstm_hidden=128, dropout=0.3, epochs=30,
                  batch_size=128, lr_encoder=5e-3, lr_head=5e-3, patience=4, rare_types=RARE_RUIJIN_TYPES,
                  rare_oversample=2, max_minutes=25.0)
    return replace(base, **changes)


#: Every trained model the chapter and its results page report, by name. "default" is what the train command
#: does without ``--recipe``; ``ruijin-run1`` ... ``ruijin-run7`` are the character BiLSTM-CRF runs of
#: ``book/results/ch12.md`` (of runs 5-7, the validation documents choose run 7: record ``ch12.ruijin_selection``);
#: ``bert-base-chinese`` is the lab profile's encoder with the two learning rates (not run yet on Ruijin).
RECIPES: dict[str, Recipe] = {
    "default": Recipe(description="the train command's defaults: characters, 128-unit BiLSTM, 10 epochs"),
    "ruijin-run0": _ruijin("run 0: characters only, patience 3 (measured on the packed BiLSTM before the "
                           "unpacked one; today's code runs it faster)", patience=3),
    "ruijin-run1": _ruijin("run 1: characters only, dropout 0.3"),
    "ruijin-run2": _ruijin("run 2: characters and bigrams (seen twice), dropout 0.4", bigram_min_count=2,
                           dropout=0.4),
    "ruijin-run3": _ruijin("run 3: run 2 with dropout 0.5 and learning rates x 0.9 after every epoch",
                           bigram_min_count=2, dropout=0.5, lr_decay=0.9, patience=5),
    "ruijin-run4": _ruijin("run 4: run 2 with skip-gram initialised character and bigram tables",
                           bigram_min_count=2, dropout=0.4, pretrain_epochs=5, max_minutes=24.0),
    "ruijin-run5": _ruijin("run 5: run 4 with a moving average of the weights (0.998)", bigram_min_count=2,
                           dropout=0.4, pretrain_epochs=5, ema_decay=0.998, max_minutes=24.0),
    "ruijin-run6": _ruijin("run 6: run 5 with a 192-unit BiLSTM", bigram_min_count=2, dropout=0.4,
                           pretrain_epochs=5, ema_decay=0.998, lstm_hidden=192, max_minutes=24.0),
    "ruijin-run7": _ruijin("run 7: run 5 with the seed's 256-unit BiLSTM", bigram_min_count=2, dropout=0.4,
                           pretrain_epochs=5, ema_decay=0.998, lstm_hidden=256, max_minutes=24.0),
    "bert-base-chinese": Recipe(description="lab: bert-base-chinese -> BiLSTM -> CRF, 2e-5 for BERT, 1e-3 for "
                                            "the head", encoder="bert_base_chinese", max_length=256,
                                batch_size=64, lr_encoder=2e-5, lr_head=1e-3),
}


#: the rare types the notebook's model repeats (the four under 1,000 that the synthetic corpus plants too)
NOTEBOOK_RARE_TYPES: tuple[str, ...] = ("Frequency", "SideEff", "Treatment", "Duration")


def notebook_recipe(settings: Any) -> Recipe:
    """Return the recipe of the chapter notebook's main model for a profile's ``settings`` (chapter 12).

    The profile (``course_utils.profiles``) holds the sizes; this is the one place that turns them into a
    :class:`Recipe`, so the notebook's model, like every model of the results page, is a recipe.
    """
    return Recipe(description=f"chapter 12 notebook, {getattr(settings, 'dataset', '?')} data", encoder=settings.model,
                  max_length=settings.max_length, lstm_hidden=settings.lstm_hidden,
                  embedding_dim=settings.embedding_dim, stride=settings.stride, epochs=settings.epochs,
                  batch_size=settings.batch_size, lr_encoder=settings.lr_encoder, lr_head=settings.lr_head,
                  patience=settings.patience, rare_types=NOTEBOOK_RARE_TYPES, rare_oversample=2)


def recipe(name: str) -> Recipe:
    """Return the recipe called ``name`` from :data:`RECIPES`, or raise :class:`NerError` listing them."""
    try:
        return RECIPES[name]
    except KeyError:
        raise NerError(f"no recipe called {name!r}; choose one of {', '.join(RECIPES)}.") from None


#: command options that override a recipe's field (option destination -> field)
_OVERRIDES = ("encoder", "use_lstm", "embedding_dim", "lstm_hidden", "dropout", "bigram_min_count", "bigram_dim",
              "pretrain_epochs", "max_length", "stride", "epochs", "batch_size", "lr_encoder", "lr_head", "lr_decay",
              "patience", "ema_decay", "rare_types", "rare_oversample", "max_minutes")


def _type_list(text: str) -> tuple[str, ...]:
    return tuple(t for t in (s.strip() for s in text.split(",")) if t)


def add_recipe_arguments(parser: argparse.ArgumentParser, *, default: str = "default") -> None:
    """Add ``--recipe NAME`` and one option per recipe field (each overrides the recipe) to ``parser``."""
    from ...commands import non_negative_int, positive_int, probability

    def positive_float(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{value} must be above 0")
        return value

    group = parser.add_argument_group("recipe", "a named recipe (course_utils.ie.ner.tagger.RECIPES); each option "
                                                "below overrides that one field of it")
    group.add_argument("--recipe", default=default, choices=sorted(RECIPES),
                       help=f"named recipe (default {default})")
    group.add_argument("--encoder", default=None,
                       help="char, tiny-bert, a model manifest (bert_base_chinese, after `python -m "
                            "course_utils.data fetch bert_base_chinese`) or a local BERT folder")
    group.add_argument("--no-lstm", dest="use_lstm", action="store_const", const=False, default=None,
                       help="BERT-CRF ablation: no BiLSTM")
    group.add_argument("--embedding-dim", type=positive_int, default=None)
    group.add_argument("--lstm-hidden", type=positive_int, default=None, help="BiLSTM units each way")
    group.add_argument("--dropout", type=probability, default=None)
    group.add_argument("--bigram-min-count", type=positive_int, default=None,
                       help="char encoder: bigram embeddings for bigrams seen this often in training (e.g. 2)")
    group.add_argument("--bigram-dim", type=positive_int, default=None)
    group.add_argument("--pretrain-epochs", type=non_negative_int, default=None,
                       help="char encoder: start from skip-gram vectors of the training documents (e.g. 5)")
    group.add_argument("--max-length", type=positive_int, default=None, help="characters per chunk")
    group.add_argument("--stride", type=non_negative_int, default=None, help="overlap of neighbouring chunks")
    group.add_argument("--epochs", type=positive_int, default=None)
    group.add_argument("--batch-size", type=positive_int, default=None,
                       help="chunks per step; under torchrun the global batch, shared among the processes")
    group.add_argument("--lr", type=positive_float, default=None,
                       help="one learning rate for encoder and head (--lr-encoder/--lr-head override it)")
    group.add_argument("--lr-encoder", type=positive_float, default=None)
    group.add_argument("--lr-head", type=positive_float, default=None)
    group.add_argument("--lr-decay", type=positive_float, default=None,
                       help="learning rates x this after every epoch")
    group.add_argument("--patience", type=positive_int, default=None)
    group.add_argument("--ema-decay", type=probability, default=None,
                       help="validate and keep a moving average of the weights (e.g. 0.998)")
    group.add_argument("--rare-types", type=_type_list, default=None,
                       help="comma-separated entity types whose chunks are repeated (see --rare-oversample)")
    group.add_argument("--rare-oversample", type=positive_int, default=None,
                       help="times a chunk holding a rare type is seen per epoch")
    group.add_argument("--max-minutes", type=positive_float, default=None, help="training time cap")


def recipe_from_args(args: argparse.Namespace) -> tuple[str, Recipe]:
    """Return ``(name, recipe)``: the named recipe with every option given on the command line applied."""
    base = recipe(args.recipe)
    changes = {k: getattr(args, k) for k in _OVERRIDES if getattr(args, k, None) is not None}
    if getattr(args, "lr", None) is not None:
        changes.setdefault("lr_encoder", args.lr)
        changes.setdefault("lr_head", args.lr)
    name = args.recipe + (" with " + ", ".join(f"{k}={v}" for k, v in sorted(changes.items())) if changes else "")
    return name, replace(base, **changes)


@dataclass
class RecipeRun:
    """What :func:`train_recipe` returns: the trained model, its vocabulary and meta, the training history."""

    model: NerModel
    vocab: CharVocab
    meta: dict[str, Any]
    result: TrainResult
    pretraining: dict[str, Any] | None
    train_chunks: int
    stats: EncodeStats


def train_recipe(recipe: Recipe, train_docs: Sequence[BratDocument], val_docs: Sequence[BratDocument], *,
                 seed: int = 1234, types: Sequence[str] = RUIJIN_TYPES, device: Any = "cpu", ctx: Any = None,
                 show_progress: bool = True, say: Any = None) -> RecipeRun:
    """Train ``recipe`` on ``train_docs`` (validation: ``val_docs``) with ``seed``; the one training path of the
    train command, the real-data benchmark and the notebook (chapter 12).

    Seeds everything before the model is built, so initial weights, skip-gram vectors and batch order all
    follow ``seed``. Raises :class:`NerError` when the training documents hold no entity or there is no
    validation document.
    """
    from ...distributed import DistributedContext, main_process_first
    from ...seeding import seed_everything

    say = say or (lambda *a, **k: None)
    if not train_docs or not any(d.entities for d in train_docs):
        raise NerError(f"the {len(train_docs)} training documents hold no entity to learn from; give a brat folder "
                       "whose .ann files annotate entities.")
    if not val_docs:
        raise NerError("there is no validation document; give a split file with a non-empty 'val' list, or more "
                       "documents.")
    if ctx is None:
        ctx = DistributedContext(0, 1, 0, torch.device(device))
    cleaned = [remove_line_breaks(d.text)[0] for d in train_docs]
    seed_everything(seed)  # the same initial weights in every process and in every run of this seed
    with main_process_first(ctx):  # rank 0 verifies a manifest model's files first
        model, vocab, meta = build_model(recipe.encoder, None, texts=cleaned, types=types, **recipe.model_options())
    pretraining = None
    if recipe.pretrain_epochs:
        if recipe.encoder != "char":
            raise NerError("pretrain_epochs is for the char encoder (a BERT encoder is already pretrained).")
        pretraining = pretrain_embeddings(model, vocab, cleaned, epochs=recipe.pretrain_epochs, seed=seed)
        say(f"skip-gram pretraining: {pretraining}")
    train_ex, stats = make_examples(train_docs, vocab, model.tags, max_length=recipe.max_length, stride=recipe.stride)
    val_ex, _ = make_examples(val_docs, vocab, model.tags, max_length=recipe.max_length, stride=recipe.stride)
    say(f"{len(train_docs)} training documents ({len(train_ex)} chunks), {len(val_docs)} validation; "
        f"BIO policy: {stats}")
    result = train_ner(model, train_ex, val_ex, recipe.train_config(seed), show_progress=show_progress, ctx=ctx)
    meta.update(stride=recipe.stride, history=result.history, processes=ctx.world_size, recipe=recipe.settings(),
                seed=seed)
    return RecipeRun(model, vocab, meta, result, pretraining, len(train_ex), stats)
