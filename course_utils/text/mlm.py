"""Masked-language modelling, LoRA and contextual word vectors (chapter 10).

The chapter adapts a BERT masked-language model to new text in two ways, with Hugging Face's ``Trainer``: full
fine-tuning (every weight trains) and LoRA {Hu et al. 2021} through ``peft`` (the weights stay frozen; small
low-rank matrices beside the attention and feed-forward projections train). Both are scored by held-out
perplexity under one fixed, seeded masking, so "before" and "after" see exactly the same masked tokens.

In the smoke profile the base model is a small BERT the course pretrains itself (a WordPiece tokenizer trained
with ``tokenizers`` and a 2-layer ``BertForMaskedLM``) on domain 0 of the synthetic corpus, cached with
:func:`course_utils.cache.cached_folder` so that chapter 11 and the tests reuse it; it is then adapted to domain 1,
the planted domain shift. In lab/full the base model is the profile's pretrained MLM by manifest name
(``biomedbert``), loaded from its verified folder in ``COURSE_DATA_DIR`` (:func:`base_model_folder`); BiomedBERT's
folder holds only ``config.json``, ``vocab.txt`` and ``pytorch_model.bin``, and :func:`load_mlm` builds its uncased
WordPiece tokenizer from ``vocab.txt``.

Training honours the device it is given (``use_cpu`` when it is the CPU, even on a machine with a GPU). The
command line ``python -m course_utils.text.mlm train ...`` trains and saves a model; it runs unchanged under
``torchrun --standalone --nproc_per_node N``, where ``Trainer`` averages the gradients over the processes.

Where the code is: :mod:`.mlm_data` (tokenizer, masking, perplexity), :mod:`.mlm_training` (Trainer arguments,
full fine-tuning and LoRA), :mod:`.mlm_models` (the small BERT and the pretrained base) and :mod:`.mlm_senses`
(contextual word vectors); this module holds the adaptation experiment and the command and re-exports their
public names (``from course_utils.text import mlm; mlm.fine_tune`` keeps working).

The second half embeds one word in different senses with the real MiniLM encoder and measures whether the
contextual vectors of one sense are closer to each other than to those of the other sense.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .mlm_data import (
    SPECIAL_TOKENS,
    MlmError,
    Perplexity,
    WordNotInSentenceError,
    domain_texts,
    encode_for_mlm,
    fixed_masked_batches,
    masked_nll,
    masked_perplexity,
    mlm_collator,
    quiet_training,
    small_bert_config,
    split_held_out,
    train_wordpiece,
)
from .mlm_models import (
    base_model_folder,
    load_mlm,
    load_mlm_tokenizer,
    model_label,
    small_bert_folder,
)
from .mlm_senses import (
    SENSE_SENTENCES,
    contextual_word_vectors,
    cosine_matrix,
    plot_sense_similarity,
    sense_table,
    sense_vectors,
    within_across,
)
from .mlm_training import (
    FineTuneResult,
    add_lora,
    fine_tune,
    lora_modules,
    lora_parameter_table,
    trainable_parameters,
    training_arguments,
)

__all__ = [
    "MlmError",
    "WordNotInSentenceError",
    "SPECIAL_TOKENS",
    "SENSE_SENTENCES",
    "Perplexity",
    "FineTuneResult",
    "quiet_training",
    "train_wordpiece",
    "small_bert_config",
    "encode_for_mlm",
    "mlm_collator",
    "fixed_masked_batches",
    "masked_nll",
    "masked_perplexity",
    "domain_texts",
    "split_held_out",
    "small_bert_folder",
    "load_mlm",
    "load_mlm_tokenizer",
    "model_label",
    "base_model_folder",
    "add_lora",
    "trainable_parameters",
    "training_arguments",
    "fine_tune",
    "lora_modules",
    "lora_parameter_table",
    "adaptation_texts",
    "SOURCE_COLUMN",
    "compare_adaptation",
    "lora_recovery",
    "contextual_word_vectors",
    "sense_vectors",
    "cosine_matrix",
    "within_across",
    "sense_table",
    "plot_sense_similarity",
    "launch_commands",
    "read_text_files",
    "train_command",
    "main",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------------------
# The experiment: perplexity before, after LoRA and after full fine-tuning


def adaptation_texts(settings: Any) -> tuple[list[str], list[str], list[str] | None]:
    """Return (train, held-out) texts of the target domain and held-out texts of the base model's own domain, or
    None where the course has none (chapter 10).

    Smoke: domain 1 of the synthetic corpus to adapt to, domain 0 (what the small BERT was pretrained on) as the
    old domain. Lab/full: the profile's real corpus (its first ``max_documents`` documents), split; there is no
    old-domain text, since BiomedBERT's pretraining text (PubMed) is not part of the course's data, so forgetting
    is not measured there.
    """
    if settings.corpus == "synthetic":
        target = domain_texts(settings.max_documents, 1, seed=settings.seed + 1)
        source = domain_texts(max(20, settings.max_documents // 4), 0, seed=settings.seed + 2)
        train, held = split_held_out(target, settings.held_out_fraction, seed=settings.seed)
        return train, held, source
    from .corpus import corpus_documents

    docs = [d.text for d in corpus_documents(settings)]
    train, held = split_held_out(docs, settings.held_out_fraction, seed=settings.seed)
    return train, held, None


SOURCE_COLUMN = "perplexity, old domain held-out"


def compare_adaptation(settings: Any, *, source: str | Path | None = None,
                       texts: tuple[Sequence[str], Sequence[str], Sequence[str] | None] | None = None,
                       device: Any = None) -> tuple[Any, dict[str, Any]]:
    """Return (table, details): held-out perplexity of the base model, after LoRA and after full fine-tuning (chapter 10).

    One row per model: which model (base name or path), method, trainable parameters and fraction, perplexity on
    the target domain's held-out text before and after, training seconds and tokens/s. Both runs start from fresh
    copies of the same base weights, train on ``device`` and are scored on the same fixed masked batches. When
    ``texts`` (or :func:`adaptation_texts`) gives old-domain text (smoke), a column ``SOURCE_COLUMN`` scores every
    model on it too: what adapting cost on the base model's own domain. Otherwise (lab/full) there is no such
    column and ``details["before_source"]`` is None. ``details`` also holds the trained models and the batches.
    """
    import pandas as pd

    source = source if source is not None else base_model_folder(settings)
    train, held, source_held = texts if texts is not None else adaptation_texts(settings)
    tokenizer, base = load_mlm(source, device)
    device = next(base.parameters()).device
    train_ex = encode_for_mlm(tokenizer, train, settings.max_length)
    held_batches = fixed_masked_batches(tokenizer, encode_for_mlm(tokenizer, held, settings.max_length),
                                        probability=settings.mask_probability, batch_size=64, seed=settings.seed)
    source_batches = None
    if source_held:
        source_batches = fixed_masked_batches(tokenizer, encode_for_mlm(tokenizer, source_held, settings.max_length),
                                              probability=settings.mask_probability, batch_size=64, seed=settings.seed)
    before = masked_perplexity(base, held_batches)
    before_source = masked_perplexity(base, source_batches) if source_batches else None
    name = model_label(source, base)
    runs: dict[str, FineTuneResult] = {}
    for method in ("lora", "full"):
        _, model = load_mlm(source, device)
        if method == "lora":
            model = add_lora(model, settings.lora_rank, alpha=settings.lora_alpha, targets=settings.lora_targets)
            lr = settings.learning_rate_lora
        else:
            lr = settings.learning_rate_full
        runs[method] = fine_tune(model, tokenizer, train_ex, method=method, learning_rate=lr, epochs=settings.epochs,
                                 batch_size=settings.batch_size, seed=settings.seed, device=device,
                                 mask_probability=settings.mask_probability, description=f"{method} fine-tuning")
    after = {m: masked_perplexity(r.model, held_batches) for m, r in runs.items()}
    after_source = {m: masked_perplexity(r.model, source_batches) for m, r in runs.items()} if source_batches else {}
    base_trainable, base_total = trainable_parameters(base)
    rows = [{"model": name, "method": "none (base model)", "trainable parameters": 0, "trainable %": 0.0,
             "perplexity, target held-out": before.perplexity, "training s": 0.0, "tokens/s": float("nan")}]
    if before_source is not None:
        rows[0][SOURCE_COLUMN] = before_source.perplexity
    labels = {"lora": f"LoRA r={settings.lora_rank} on {', '.join(settings.lora_targets)}", "full": "full fine-tuning"}
    for m, r in runs.items():
        row = {"model": f"{name} + {labels[m].split(' on ')[0]}", "method": labels[m],
               "trainable parameters": r.trainable, "trainable %": 100 * r.trainable_fraction,
               "perplexity, target held-out": after[m].perplexity, "training s": r.seconds,
               "tokens/s": r.tokens_per_second}
        if after_source:
            row[SOURCE_COLUMN] = after_source[m].perplexity
        rows.append(row)
    columns = ["model", "method", "trainable parameters", "trainable %", "perplexity, target held-out"]
    columns += [SOURCE_COLUMN] if before_source is not None else []
    table = pd.DataFrame(rows)[columns + ["training s", "tokens/s"]].set_index("model")
    details = {"before": before, "before_source": before_source, "after": after, "after_source": after_source,
               "runs": runs, "tokenizer": tokenizer, "held_batches": held_batches, "source": source,
               "n_train_examples": len(train_ex), "n_train_texts": len(train), "n_held_texts": len(held),
               "base_total": base_total, "lora_modules": lora_modules(runs["lora"].model)}
    return table, details


def lora_recovery(before: float, lora: float, full: float) -> float:
    """Return the share of full fine-tuning's perplexity gain that LoRA recovers: (before - lora) / (before - full)
    (chapter 10). 1 means as good as full fine-tuning, 0 no better than the base model."""
    if not before > full:
        raise MlmError(f"Full fine-tuning did not lower the perplexity ({before:.3f} -> {full:.3f}): nothing to recover.")
    return (before - lora) / (before - full)


# --------------------------------------------------------------------------------------------------------------
# Multi-GPU


def launch_commands(n_gpus: int = 4, profile: str = "lab", method: str = "lora",
                    output: str = "mlm-adapted") -> dict[str, str]:
    """Return the ``torchrun`` and ``accelerate launch`` commands that run the chapter's training command on
    ``n_gpus`` GPUs of one machine (chapter 10). Trainer reads the launcher's environment and wraps the model in
    DDP itself; ``python -m course_utils.text.mlm train --help`` lists the options."""
    script = f"-m course_utils.text.mlm train --method {method} --output {output}"
    return {
        "torchrun": f"COURSE_PROFILE={profile} torchrun --standalone --nproc_per_node {n_gpus} {script}",
        "accelerate": f"COURSE_PROFILE={profile} accelerate launch --multi_gpu --num_processes {n_gpus} {script}",
    }


def read_text_files(paths: Sequence[str | Path]) -> list[str]:
    """Return the documents of plain-text files, one per non-empty line (chapter 10's ``train`` command)."""
    texts: list[str] = []
    for path in paths:
        file = Path(path)
        if not file.is_file():
            raise MlmError(f"No text file at {file}: pass files with one document per line.")
        texts.extend(line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip())
    if len(texts) < 2:
        raise MlmError(f"{', '.join(map(str, paths))} hold {len(texts)} document(s); training needs at least two "
                       "(one per line), one of them held out.")
    return texts


_DESCRIPTION = ("Chapter 10: continue the masked-language-model pretraining of a BERT on new text, with LoRA or "
                "fully, and report held-out perplexity before and after. Runs on one device, or on several GPUs (or "
                "CPU processes) under `torchrun --standalone --nproc_per_node N -m course_utils.text.mlm train ...`: "
                "each process takes --batch-size examples per step and Trainer averages the gradients.")


def _train_arguments(train: Any) -> None:
    from ..commands import positive_int, probability

    train.add_argument("--text", nargs="+", type=Path, help="text files, one document per line (default: the "
                       "profile's corpus: the synthetic domain 1 in smoke, CORD-19 in lab/full)")
    train.add_argument("--output", type=Path, required=True, help="folder to save the trained model in")
    train.add_argument("--method", choices=("lora", "full"), default="lora")
    train.add_argument("--model", help="base model: a model manifest name (biomedbert), a folder, or 'tiny-random' "
                       "for the course's small BERT (default: the profile's)")
    train.add_argument("--epochs", type=float, help="passes over the training documents")
    train.add_argument("--max-steps", type=int, default=-1, help="stop after this many optimizer steps")
    train.add_argument("--batch-size", type=positive_int, help="sequences per step per process")
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--max-length", type=positive_int, help="WordPieces per sequence")
    train.add_argument("--held-out-fraction", type=probability, help="share of the documents held out for perplexity")
    train.add_argument("--seed", type=int)


def _run_train(args: Any) -> int:
    train_command(args)
    return 0


def _verbs() -> list[Any]:
    from ..commands import Verb

    return [Verb(
        "train", "train a masked language model and save it", _run_train,
        _train_arguments, device=True,
        description="Train a masked language model on text files (one document per line) or on the profile's "
                    "corpus (COURSE_PROFILE; chapter 10's settings), hold out a share of the documents, print "
                    "held-out perplexity before and after, and save the model (LoRA adapters merged) and its "
                    "tokenizer to --output. Options left out take the profile's values.")]


def _parser() -> Any:
    """Return the command's argument parser (``course_utils.commands.build_parser``; the tests read its help)."""
    from ..commands import build_parser

    return build_parser("python -m course_utils.text.mlm", _DESCRIPTION, _verbs())


def train_command(args: Any) -> dict[str, Any]:
    """Run ``python -m course_utils.text.mlm train`` with parsed ``args``; return what it measured (chapter 10).

    Every process trains; only the main process (rank 0) scores, prints and saves. The returned dict holds the
    perplexities before and after, the device, the number of processes, steps and the output folder.
    """
    import dataclasses
    import json

    from ..distributed import barrier, init_distributed, main_process_first, shutdown
    from ..profiles import CHAPTERS, chapter_settings, resolve_profile

    ctx = init_distributed(args.device)
    try:
        profile = resolve_profile(CHAPTERS[10].datasets).profile
        settings = chapter_settings(10, profile)
        changes = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size, "max_length": args.max_length,
                                     "held_out_fraction": args.held_out_fraction}.items() if v is not None}
        if args.learning_rate is not None:
            changes["learning_rate_lora" if args.method == "lora" else "learning_rate_full"] = args.learning_rate
        settings = dataclasses.replace(settings, **changes)
        seed = args.seed if args.seed is not None else settings.seed
        with main_process_first(ctx):  # the small BERT's cache and the corpus are built once, by rank 0
            if args.model is None or args.model == "tiny-random":
                source = base_model_folder(settings) if args.model is None else small_bert_folder(settings)
            elif Path(args.model).is_dir():
                source = Path(args.model)
            else:
                source = base_model_folder(dataclasses.replace(settings, model=args.model))
            if args.text:
                train, held = split_held_out(read_text_files(args.text), settings.held_out_fraction, seed=seed)
            else:
                train, held, _ = adaptation_texts(settings)
        tokenizer, model = load_mlm(source, ctx.device)
        batches = fixed_masked_batches(tokenizer, encode_for_mlm(tokenizer, held, settings.max_length),
                                       probability=settings.mask_probability, seed=seed)
        before = masked_perplexity(model, batches) if ctx.is_main else None
        if args.method == "lora":
            model = add_lora(model, settings.lora_rank, alpha=settings.lora_alpha, targets=settings.lora_targets)
        lr = settings.learning_rate_lora if args.method == "lora" else settings.learning_rate_full
        result = fine_tune(model, tokenizer, encode_for_mlm(tokenizer, train, settings.max_length), method=args.method,
                           learning_rate=lr, epochs=settings.epochs, batch_size=settings.batch_size, seed=seed,
                           mask_probability=settings.mask_probability, max_steps=args.max_steps, device=ctx.device,
                           description=f"{args.method} MLM")
        summary: dict[str, Any] = {"method": args.method, "base": str(source), "processes": ctx.world_size,
                                   "device": result.device, "steps": result.steps, "output": str(args.output)}
        if ctx.is_main:
            after = masked_perplexity(result.model, batches)
            trained = result.model.merge_and_unload() if args.method == "lora" else result.model
            args.output.mkdir(parents=True, exist_ok=True)
            with quiet_training():
                trained.save_pretrained(args.output)
                tokenizer.save_pretrained(args.output)
            summary.update(perplexity_before=before.perplexity, perplexity_after=after.perplexity,
                           masked_tokens=after.n_masked, trainable=result.trainable, total=result.total,
                           tokens_per_second=result.tokens_per_second)
            (args.output / "training.json").write_text(json.dumps(summary, indent=2))
            print(f"{args.method} on {result.device} x {ctx.world_size} process(es), {result.steps} steps: held-out "
                  f"perplexity {before.perplexity:.3f} -> {after.perplexity:.3f} ({after.n_masked:,} masked tokens); "
                  f"trainable {100 * result.trainable_fraction:.2f} %; saved to {args.output}", flush=True)
        barrier(ctx)
    finally:
        shutdown(ctx)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of chapter 10: ``python -m course_utils.text.mlm train --output DIR [...]`` (see ``--help``);
    a course error prints one line ``error: ...`` and returns 2 (:func:`course_utils.commands.run_command`)."""
    from ..commands import run_command

    return run_command("python -m course_utils.text.mlm", _DESCRIPTION, _verbs(), argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
