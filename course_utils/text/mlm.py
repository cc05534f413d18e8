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

The second half embeds one word in different senses with the real MiniLM encoder and measures whether the
contextual vectors of one sense are closer to each other than to those of the other sense.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import cache_key, cached_folder
from ..errors import CourseError
from ..progress import progress_bar
from ..seeding import seed_everything

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

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_IGNORE = -100  # the label value PyTorch's cross-entropy and HF's collator use for "not masked"


class MlmError(CourseError, ValueError):
    """A masked-language-modelling input or setting the chapter cannot use (chapter 10)."""


class WordNotInSentenceError(MlmError):
    """A sentence given for a word's contextual vector does not contain that word (chapter 10)."""


# --------------------------------------------------------------------------------------------------------------
# Quiet training: Trainer and peft talk a lot; the chapter shows its own progress bar and tables instead.


@contextlib.contextmanager
def quiet_training() -> Iterator[None]:
    """Context manager that silences transformers' and peft's info logs and FutureWarnings (chapter 10).

    Warnings and log levels are restored on exit, so code outside the block behaves as before.
    """
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    bar_was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # the per-weight "Loading weights" bar
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"(peft|transformers|accelerate|torch)\b.*")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(peft|transformers|accelerate)\b.*")
            yield
    finally:
        hf_logging.set_verbosity(before)
        if bar_was_enabled:
            hf_logging.enable_progress_bar()


# --------------------------------------------------------------------------------------------------------------
# Tokenizer, model and data


def train_wordpiece(texts: Sequence[str], vocab_size: int = 1000, *, max_length: int = 64) -> Any:
    """Return a ``PreTrainedTokenizerFast`` with a WordPiece vocabulary trained on ``texts`` (chapter 10).

    BERT's recipe with Hugging Face ``tokenizers``: lower-casing normaliser, BERT pre-tokenizer (whitespace and
    punctuation), WordPiece with ``##`` continuation pieces, ``[CLS] ... [SEP]`` around each sequence.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if not texts:
        raise MlmError("train_wordpiece got no texts: pass the training corpus (a list of strings).")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), min_frequency=1,
                                        show_progress=False)
    tok.train_from_iterator(list(texts), trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tok.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=max_length)


def small_bert_config(vocab_size: int, *, hidden: int = 128, layers: int = 2, heads: int = 2,
                      max_length: int = 64, pad_token_id: int = 0, tie: bool = False) -> Any:
    """Return the ``BertConfig`` of the course's small BERT: ``layers`` x ``hidden``, FFN 4x wide (chapter 10).

    ``tie=False`` gives the output layer (``cls.predictions.decoder``) its own weights instead of sharing the input
    embeddings, so a LoRA adapter on it can later be merged without changing the embeddings.
    """
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                      intermediate_size=4 * hidden, max_position_embeddings=max_length, pad_token_id=pad_token_id,
                      tie_word_embeddings=tie)


def encode_for_mlm(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[dict[str, list[int]]]:
    """Return training examples: each text's WordPieces cut into chunks of ``max_length`` with [CLS]/[SEP] (chapter 10).

    Chunking, as Hugging Face's ``run_mlm`` example groups texts, keeps every token of a long abstract instead of
    truncating it. Each example holds ``input_ids`` and ``special_tokens_mask`` (1 on [CLS]/[SEP], never masked).
    """
    if max_length < 8:
        raise MlmError(f"max_length={max_length} is too short for masked-language modelling; use 32 or more.")
    body = max_length - 2
    examples: list[dict[str, list[int]]] = []
    with quiet_training():  # long texts are cut below; the "longer than the maximum" warning does not apply
        ids_per_text = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    for ids in ids_per_text:
        for start in range(0, len(ids), body):
            chunk = list(ids[start:start + body])
            if len(chunk) < 2:
                continue
            examples.append({"input_ids": [cls_id, *chunk, sep_id], "special_tokens_mask": [1, *[0] * len(chunk), 1]})
    if not examples:
        raise MlmError("encode_for_mlm made no examples: the texts are empty or tokenise to nothing.")
    return examples


def mlm_collator(tokenizer: Any, probability: float = 0.15, *, seed: int | None = None,
                 evaluation: bool = False) -> Any:
    """Return HF's ``DataCollatorForLanguageModeling`` (chapter 10): BERT's 80/10/10 masking for training, or with
    ``evaluation`` every chosen token replaced by [MASK] (no random or kept tokens), seeded when ``seed`` is given."""
    from transformers import DataCollatorForLanguageModeling

    if evaluation:
        return DataCollatorForLanguageModeling(tokenizer, mlm_probability=probability, mask_replace_prob=1.0,
                                               random_replace_prob=0.0, seed=seed)
    return DataCollatorForLanguageModeling(tokenizer, mlm_probability=probability, seed=seed)


def fixed_masked_batches(tokenizer: Any, examples: Sequence[Mapping[str, list[int]]], *, probability: float = 0.15,
                         batch_size: int = 32, seed: int = 1234) -> list[dict[str, Any]]:
    """Return padded, masked evaluation batches made once with a seeded collator (chapter 10).

    Every model scored on these batches predicts exactly the same masked tokens, so perplexities before and
    after fine-tuning, and of LoRA against full fine-tuning, are comparable. A sequence whose random draw
    masked nothing gets no loss terms; every batch is checked to hold at least one masked token.
    """
    collate = mlm_collator(tokenizer, probability, seed=seed, evaluation=True)
    batches = []
    for start in range(0, len(examples), batch_size):
        chunk = [dict(e) for e in examples[start:start + batch_size]]
        batch = collate(chunk)
        batch.pop("special_tokens_mask", None)
        if int((batch["labels"] != _IGNORE).sum()) > 0:
            batches.append(dict(batch))
    if not batches:
        raise MlmError("No token was masked in the evaluation set: pass more text or a larger mask probability.")
    return batches


def masked_nll(logits: Any, labels: Any) -> tuple[float, int]:
    """Return (summed negative log-likelihood, number of masked tokens) over positions whose label is not -100
    (chapter 10). Natural logarithm; ``logits`` are [batch, length, vocabulary], ``labels`` [batch, length]."""
    import torch

    logits = torch.as_tensor(logits)
    labels = torch.as_tensor(labels)
    total = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                                              ignore_index=_IGNORE, reduction="sum")
    return float(total), int((labels != _IGNORE).sum())


@dataclass(frozen=True)
class Perplexity:
    """Held-out masked-token perplexity: exp(mean NLL over masked tokens), the mean NLL and the token count."""

    perplexity: float
    mean_nll: float
    n_masked: int


def masked_perplexity(model: Any, batches: Sequence[Mapping[str, Any]], device: Any = None) -> Perplexity:
    """Return the :class:`Perplexity` of ``model`` on fixed masked ``batches`` (chapter 10).

    Perplexity = exp( sum over masked tokens of -log p(true token | context) / number of masked tokens ).
    """
    import torch

    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            inputs = {k: torch.as_tensor(v).to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
            out = model(**inputs)
            nll, n = masked_nll(out.logits, torch.as_tensor(batch["labels"]).to(device))
            total, count = total + nll, count + n
    model.train(was_training)
    if count == 0:
        raise MlmError("The evaluation batches hold no masked token (all labels are -100).")
    mean = total / count
    return Perplexity(math.exp(mean), mean, count)


def domain_texts(n_documents: int, domain: int, *, seed: int = 1234) -> list[str]:
    """Return ``n_documents`` texts of the synthetic corpus in ``domain`` 0 or 1 (the planted shift) (chapter 10)."""
    from .corpus import synthetic_corpus

    return list(synthetic_corpus(n_documents, seed=seed, domain=domain).texts())


def split_held_out(texts: Sequence[str], fraction: float, *, seed: int = 1234) -> tuple[list[str], list[str]]:
    """Return (train, held_out) texts, a seeded random split with ``fraction`` held out (chapter 10)."""
    if not 0 < fraction < 1 or len(texts) < 2:
        raise MlmError(f"Cannot hold out {fraction} of {len(texts)} texts: use 0 < fraction < 1 and 2+ texts.")
    order = np.random.default_rng(seed).permutation(len(texts))
    n_out = max(1, int(round(fraction * len(texts))))
    held = set(order[:n_out].tolist())
    return [t for i, t in enumerate(texts) if i not in held], [t for i, t in enumerate(texts) if i in held]


# --------------------------------------------------------------------------------------------------------------
# Training with HF Trainer


def training_arguments(output_dir: Path, *, device: Any, learning_rate: float, epochs: float, batch_size: int,
                       seed: int, max_steps: int = -1, warmup: float = 0.0, optim: str = "adamw_torch") -> Any:
    """Return the ``TrainingArguments`` of the chapter's runs on ``device`` (chapter 10).

    ``use_cpu`` is set exactly when ``device`` is the CPU, so a CPU run stays on the CPU on a machine with a GPU
    (``Trainer`` would otherwise move the model to CUDA); bf16 mixed precision only on a CUDA device that supports
    it. No reports, checkpoints or Trainer logs; AdamW (``optim``) without weight decay, linear decay after
    ``warmup`` (a fraction of the steps when below 1).
    """
    import torch
    from transformers import TrainingArguments

    dev = torch.device(device)
    on_cuda = dev.type == "cuda"
    return TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=batch_size, learning_rate=learning_rate,
        num_train_epochs=epochs, max_steps=max_steps, warmup_steps=warmup, weight_decay=0.0, lr_scheduler_type="linear",
        optim=optim, seed=seed, data_seed=seed, report_to="none", save_strategy="no", logging_strategy="no",
        disable_tqdm=True, use_cpu=dev.type == "cpu", bf16=bool(on_cuda and torch.cuda.is_bf16_supported()),
        dataloader_num_workers=0, remove_unused_columns=False,
    )


def _progress_callback(description: str) -> Any:
    from transformers import TrainerCallback

    class _Bar(TrainerCallback):
        """Drive the course's progress bar from the Trainer's steps (Trainer's own bar is switched off)."""

        bar: Any = None

        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            self.bar = progress_bar(state.max_steps, desc=description, leave=False, mininterval=2.0)

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            if self.bar is not None:
                self.bar.update(1)

        def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            if self.bar is not None:
                self.bar.close()

    return _Bar()


@dataclass(frozen=True)
class FineTuneResult:
    """What one training run did: the trained model, its trainable/total parameters, time and throughput."""

    model: Any
    method: str
    trainable: int
    total: int
    steps: int
    seconds: float
    tokens: int
    final_loss: float
    device: str = "cpu"  # where the weights were when training ended: the device training really used

    @property
    def tokens_per_second(self) -> float:
        """Return training tokens (non-padding, counted once per epoch) per second of Trainer time."""
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")

    @property
    def trainable_fraction(self) -> float:
        """Return trainable / total parameters."""
        return self.trainable / self.total


def trainable_parameters(model: Any) -> tuple[int, int]:
    """Return (trainable, total) parameter counts of ``model``, shared (tied) weights counted once (chapter 10)."""
    seen: set[int] = set()
    trainable = total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def add_lora(model: Any, rank: int, *, alpha: int | None = None, targets: Sequence[str] = ("query", "key", "value", "dense"),
             dropout: float = 0.0) -> Any:
    """Return ``model`` wrapped by peft with LoRA adapters of ``rank`` on the ``targets`` linear layers (chapter 10).

    Every original weight is frozen; each targeted ``W x`` becomes ``W x + (alpha / rank) B A x`` with A (rank x in)
    random and B (out x rank) zero, so training starts from the unchanged model. peft modifies ``model`` in place.
    """
    from peft import LoraConfig, get_peft_model

    if rank < 1:
        raise MlmError(f"LoRA rank must be 1 or more, got {rank}.")
    config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else 2 * rank, lora_dropout=dropout,
                        target_modules=list(targets), bias="none")
    with quiet_training():
        return get_peft_model(model, config)


def lora_modules(model: Any) -> list[str]:
    """Return the names of the layers a peft model carries LoRA adapters on (chapter 10).

    peft matches ``target_modules`` against the end of every module name, so ``"dense"`` adapts the dense layers of
    every encoder block *and* the masked-language-model head's transform (``cls.predictions.transform.dense``).
    """
    names = []
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and hasattr(module, "base_layer"):
            names.append(name.replace("base_model.model.", "", 1))
    return names


def lora_parameter_table(model: Any) -> Any:
    """Return a DataFrame, one row per layer carrying a LoRA adapter: its input and output width, the rank and the
    trainable numbers of its adapter, r (in + out), counted from the adapter's own tensors (chapter 10)."""
    import pandas as pd

    rows = []
    for name, module in model.named_modules():
        if not (hasattr(module, "lora_A") and hasattr(module, "base_layer")):
            continue
        trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        rank = sum(int(a.weight.shape[0]) for a in module.lora_A.values())
        base = module.base_layer
        rows.append({"layer": name.replace("base_model.model.", "", 1), "in": int(base.in_features),
                     "out": int(base.out_features), "rank": rank, "trainable": int(trainable)})
    if not rows:
        raise MlmError("The model carries no LoRA adapter: wrap it with add_lora first.")
    return pd.DataFrame(rows).set_index("layer")


def fine_tune(model: Any, tokenizer: Any, examples: Sequence[Mapping[str, list[int]]], *, method: str,
              learning_rate: float, epochs: float = 1.0, batch_size: int = 16, seed: int = 1234,
              mask_probability: float = 0.15, output_dir: Path | None = None, max_steps: int = -1,
              warmup: float = 0.0, description: str | None = None, device: Any = None,
              collator: Any = None, optim: str = "adamw_torch") -> FineTuneResult:
    """Return a :class:`FineTuneResult` after training ``model`` by masked-language modelling with HF ``Trainer``
    (chapter 10). ``method`` only labels the run ("pretrain", "full", "lora"); what trains is what requires grad.

    AdamW with a linear decay after ``warmup`` (a fraction of the steps when below 1), on ``device`` (default
    :func:`course_utils.device.pick_device`, which honours ``COURSE_DEVICE``): the CPU stays the CPU even on a
    machine with a GPU; bf16 on a GPU that supports it (:func:`training_arguments`). ``collator`` replaces BERT's
    random masking (:func:`mlm_collator`), for examples masked in advance. Under ``torchrun`` each process trains
    on its share of every batch (``batch_size`` per process) and ``Trainer`` averages the gradients.
    """
    import tempfile

    import torch
    from transformers import PrinterCallback, ProgressCallback, Trainer

    from ..device import pick_device

    wanted = torch.device(device) if device is not None else pick_device()
    seed_everything(seed)
    trainable, total = trainable_parameters(model)
    if trainable == 0:
        raise MlmError(f"Nothing to train in the {method} run: every parameter is frozen.")
    with contextlib.ExitStack() as stack:
        out = output_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="course-mlm-")))
        args = training_arguments(out, device=wanted, learning_rate=learning_rate, epochs=epochs,
                                  batch_size=batch_size, seed=seed, max_steps=max_steps, warmup=warmup, optim=optim)
        with quiet_training():
            trainer = Trainer(model=model, args=args, train_dataset=[dict(e) for e in examples],
                              data_collator=collator if collator is not None else mlm_collator(tokenizer, mask_probability))
            for cb in (PrinterCallback, ProgressCallback):
                trainer.remove_callback(cb)
            trainer.add_callback(_progress_callback(description or f"{method} MLM"))
            start = time.perf_counter()
            output = trainer.train()
            seconds = time.perf_counter() - start
    n_tokens = sum(len(e["input_ids"]) for e in examples)
    if max_steps > 0:  # stopped by steps: the mean example length times the examples seen
        n_tokens = int(round(n_tokens / len(examples) * output.global_step * batch_size))
    else:
        n_tokens = int(round(n_tokens * epochs))
    model.eval()
    used = next(model.parameters()).device
    if used.type != wanted.type:
        raise MlmError(f"The {method} run was asked to train on {wanted} but the model ended on {used}: Trainer chose "
                       "another device. Report this as a bug of course_utils.text.mlm.")
    return FineTuneResult(model=model, method=method, trainable=trainable, total=total, steps=output.global_step,
                          seconds=seconds, tokens=n_tokens, final_loss=float(output.training_loss), device=str(used))


# --------------------------------------------------------------------------------------------------------------
# The base model: the course's small BERT (smoke) or a model manifest's verified folder (lab/full)


_SMALL_DEFAULTS = {"documents": 400, "vocab": 1000, "hidden": 128, "layers": 2, "heads": 2, "epochs": 3.0,
                   "learning_rate": 2e-3, "batch_size": 32, "warmup": 0.1, "tied": False}


def _small_params(settings: Any) -> dict[str, Any]:
    params = {k: getattr(settings, f"small_{k}", v) for k, v in _SMALL_DEFAULTS.items()}
    params.update(max_length=settings.max_length, seed=settings.seed, mask_probability=settings.mask_probability)
    return params


def small_bert_folder(settings: Any, *, texts: Sequence[str] | None = None) -> Path:
    """Return the cached folder of the course's small BERT pretrained on domain 0 of the synthetic corpus (chapter 10).

    Built once (locked, idempotent) with :func:`course_utils.cache.cached_folder`: a WordPiece tokenizer trained on
    the texts, a ``small_layers`` x ``small_hidden`` ``BertForMaskedLM`` trained from random weights by HF Trainer.
    ``texts`` replaces the synthetic corpus (tests); it is part of the cache key.
    """
    params = _small_params(settings)
    if texts is not None:
        params["texts_sha"] = cache_key("t", {"texts": list(texts)})
    key = cache_key("ch10-small-bert", params)

    def build(folder: Path) -> None:
        from transformers import BertForMaskedLM

        corpus = list(texts) if texts is not None else domain_texts(params["documents"], 0, seed=params["seed"])
        tokenizer = train_wordpiece(corpus, params["vocab"], max_length=params["max_length"])
        seed_everything(params["seed"])
        config = small_bert_config(len(tokenizer), hidden=params["hidden"], layers=params["layers"],
                                   heads=params["heads"], max_length=params["max_length"],
                                   pad_token_id=tokenizer.pad_token_id, tie=params["tied"])
        model = BertForMaskedLM(config)
        examples = encode_for_mlm(tokenizer, corpus, params["max_length"])
        result = fine_tune(model, tokenizer, examples, method="pretrain", learning_rate=params["learning_rate"],
                           epochs=params["epochs"], batch_size=params["batch_size"], seed=params["seed"],
                           mask_probability=params["mask_probability"], warmup=params["warmup"],
                           description="pretraining the small BERT")
        with quiet_training():
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
        (folder / "pretraining.txt").write_text(
            f"documents {len(corpus)}\nexamples {len(examples)}\nsteps {result.steps}\nseconds {result.seconds:.1f}\n"
            f"final_loss {result.final_loss:.4f}\n")

    return cached_folder(key, build)


def base_model_folder(settings: Any) -> Path:
    """Return the folder the base MLM loads from (chapter 10): the small BERT's cached folder in smoke, else the
    verified folder of the profile's model manifest (``biomedbert``: ``COURSE_DATA_DIR/biomedbert``, checked by
    :func:`course_utils.text.pretrained.model_folder`; a missing folder raises an error naming the fetch command).
    """
    if settings.model == "tiny-random":
        return small_bert_folder(settings)
    from .pretrained import model_folder

    return Path(model_folder(settings.model))


def model_label(source: str | Path, model: Any) -> str:
    """Return the name a table row gives a base model: "course small BERT LxH" for the course's cached one, else
    the folder's (manifest's) name, e.g. ``biomedbert`` (chapter 10)."""
    folder = Path(source)
    if (folder / "pretraining.txt").is_file():
        return f"course small BERT {model.config.num_hidden_layers}x{model.config.hidden_size}"
    return folder.name if folder.is_dir() else str(source)


def load_mlm_tokenizer(source: str | Path) -> Any:
    """Return the fast tokenizer of an MLM folder (chapter 10).

    A folder with ``tokenizer.json`` or ``tokenizer_config.json`` loads as saved. A folder with only ``vocab.txt``
    and ``config.json``, as BiomedBERT's hub repository ships, gets BERT's uncased WordPiece tokenizer built from
    ``vocab.txt`` (``BertTokenizerFast``, lower-casing, [CLS]/[SEP]/[MASK] from the vocabulary), its length limit
    the model's ``max_position_embeddings``.
    """
    import json

    from transformers import AutoTokenizer, BertTokenizerFast

    folder = Path(source)
    with quiet_training():
        if folder.is_dir() and not (folder / "tokenizer.json").is_file() \
                and not (folder / "tokenizer_config.json").is_file():
            if not (folder / "vocab.txt").is_file():
                raise MlmError(f"{folder} holds no tokenizer (tokenizer.json, tokenizer_config.json or vocab.txt); "
                               "fetch the model again with `python -m course_utils.data fetch NAME`.")
            limit = 512
            if (folder / "config.json").is_file():
                limit = int(json.loads((folder / "config.json").read_text()).get("max_position_embeddings", limit))
            lines = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
            vocab = {token: i for i, token in enumerate(lines[:-1] if lines and lines[-1] == "" else lines)}
            return BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=limit)
        return AutoTokenizer.from_pretrained(str(source))


def load_mlm(source: str | Path, device: Any = None) -> tuple[Any, Any]:
    """Return (tokenizer, ``AutoModelForMaskedLM``) from a folder, in eval mode on ``device`` (default
    :func:`course_utils.device.pick_device`) (chapter 10). The tokenizer comes from :func:`load_mlm_tokenizer`."""
    from transformers import AutoModelForMaskedLM

    from ..device import pick_device

    tokenizer = load_mlm_tokenizer(source)
    with quiet_training():
        model = AutoModelForMaskedLM.from_pretrained(str(source))
    model.to(device if device is not None else pick_device())
    model.eval()
    return tokenizer, model


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
# Contextual vectors: one word, several senses


SENSE_SENTENCES: dict[str, dict[str, tuple[str, ...]]] = {
    "cold": {
        "low temperature": (
            "Store the vaccine vials in a cold room at four degrees.",
            "The patient's hands were cold and pale after hours in the snow.",
            "Samples must travel on ice to keep the chain cold until the laboratory.",
            "Cold water immersion lowered his core temperature quickly.",
            "The ward was cold because the heating failed overnight.",
            "Apply a cold pack to the swollen ankle for twenty minutes.",
        ),
        "viral illness": (
            "She caught a cold from her son and had a runny nose for a week.",
            "The common cold is caused by rhinoviruses in most adults.",
            "Zinc lozenges may shorten a cold by a day or two.",
            "He stayed home from school with a cold and a sore throat.",
            "A cold usually resolves without antibiotics within ten days.",
            "Children get six to eight colds a year; this cold was her third since autumn.",
        ),
    },
    "culture": {
        "microbial growth": (
            "The blood culture grew Staphylococcus aureus after two days.",
            "A urine culture was sent before starting antibiotics.",
            "The sputum culture was negative for tuberculosis.",
            "Cells were kept in culture for three weeks before the assay.",
            "The wound swab culture showed a mixed growth of skin flora.",
            "Repeat the culture if the fever persists after treatment.",
        ),
        "shared customs": (
            "Hospital culture shapes how nurses speak up about errors.",
            "The culture of the village valued care for the elderly at home.",
            "Food culture differs widely between the north and the south.",
            "A culture of safety takes years to build in a clinic.",
            "Her thesis studied youth culture and music in the city.",
            "Respect for elders is central to their culture and religion.",
        ),
    },
    "positive": {
        "test result": (
            "The rapid antigen test was positive for influenza A.",
            "Her PCR came back positive, so she isolated for five days.",
            "A positive tuberculin skin test needs a chest radiograph.",
            "The tumour was positive for the oestrogen receptor.",
            "Three of the ten contacts tested positive on day seven.",
            "A positive blood culture prompted a switch of antibiotics.",
        ),
        "hopeful attitude": (
            "He stayed positive and cheerful throughout the long rehabilitation.",
            "A positive outlook helped her cope with the diagnosis.",
            "The team gave positive feedback on the new rota.",
            "Patients described the visit as a positive experience overall.",
            "Try to keep a positive attitude on the difficult days.",
            "Her positive mood lifted the whole family.",
        ),
    },
    "discharge": {
        "leaving hospital": (
            "The patient was ready for discharge on the third day after surgery.",
            "Discharge planning should start at admission.",
            "He received a discharge letter for his general practitioner.",
            "Early discharge home reduced the length of stay.",
            "The nurse explained the medicines before discharge from the ward.",
            "Readmission within thirty days of discharge was recorded.",
        ),
        "fluid from the body": (
            "She reported a green vaginal discharge and itching.",
            "A purulent discharge from the ear suggested otitis externa.",
            "Nipple discharge with blood needs further imaging.",
            "The wound had a foul-smelling discharge on the fifth day.",
            "Watery discharge from the eyes is common in conjunctivitis.",
            "Urethral discharge was swabbed for gonorrhoea.",
        ),
    },
}


def contextual_word_vectors(sentences: Sequence[str], word: str, *, tokenizer: Any, model: Any,
                            device: Any = None, max_length: int = 128) -> np.ndarray:
    """Return one vector per sentence for ``word`` in its context: the encoder's last-layer states of the word's
    WordPieces, averaged (chapter 10). Array (n_sentences, hidden), float32.

    The word is found as a whole word (case-insensitive, first occurrence); its pieces are the tokens whose
    character offsets fall inside it, so "discharge" split into several pieces still gets one vector.
    """
    import torch

    pattern = re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])", re.IGNORECASE)
    spans = []
    for i, sentence in enumerate(sentences):
        found = pattern.search(sentence)
        if found is None:
            raise WordNotInSentenceError(f"Sentence {i} does not contain the word {word!r}: {sentence!r}. "
                                         "Fix the sentence or the word.")
        spans.append(found.span())
    if device is None:
        device = next(model.parameters()).device
    enc = tokenizer(list(sentences), return_offsets_mapping=True, padding=True, truncation=True,
                    max_length=max_length, return_tensors="pt")
    offsets = enc.pop("offset_mapping")
    with torch.no_grad():
        states = model(**{k: v.to(device) for k, v in enc.items()}).last_hidden_state.float().cpu()
    vectors = np.zeros((len(sentences), states.shape[-1]), dtype=np.float32)
    for i, (start, end) in enumerate(spans):
        starts, ends = offsets[i, :, 0], offsets[i, :, 1]
        pieces = (ends > starts) & (starts >= start) & (ends <= end)
        if not bool(pieces.any()):
            raise WordNotInSentenceError(f"Sentence {i}: the word {word!r} was cut off by max_length={max_length}.")
        vectors[i] = states[i, pieces].mean(0).numpy()
    return vectors


def sense_vectors(word: str, *, tokenizer: Any, model: Any,
                  sentences: Mapping[str, Sequence[str]] | None = None) -> tuple[np.ndarray, list[str]]:
    """Return (vectors, sense label per row) for ``word`` over its sentences, sense by sense (chapter 10)."""
    by_sense = sentences if sentences is not None else SENSE_SENTENCES[word]
    texts, labels = [], []
    for sense, group in by_sense.items():
        texts.extend(group)
        labels.extend([sense] * len(group))
    return contextual_word_vectors(texts, word, tokenizer=tokenizer, model=model), labels


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """Return the matrix of cosine similarities between the rows of ``vectors`` (chapter 10)."""
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise MlmError("A zero vector has no cosine similarity; check the vectors passed to cosine_matrix.")
    unit = v / norms
    return unit @ unit.T


def within_across(vectors: np.ndarray, labels: Sequence[str]) -> tuple[float, float]:
    """Return (mean cosine within a sense, mean cosine across senses) over pairs of distinct rows (chapter 10).

    A row is never paired with itself (its cosine of 1 would inflate "within").
    """
    sims = cosine_matrix(vectors)
    lab = np.asarray(labels)
    same = lab[:, None] == lab[None, :]
    off_diagonal = ~np.eye(len(lab), dtype=bool)
    if not (same & off_diagonal).any() or not (~same).any():
        raise MlmError("within_across needs at least two senses and two sentences of one sense.")
    return float(sims[same & off_diagonal].mean()), float(sims[~same].mean())


def sense_table(tokenizer: Any, model: Any, words: Sequence[str] | None = None,
                sentences: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> Any:
    """Return a DataFrame, one row per word: its senses, sentence count, mean cosine within a sense and across
    senses, their gap, and the share of sentences whose nearest other sentence has the same sense (chapter 10)."""
    import pandas as pd

    source = sentences if sentences is not None else SENSE_SENTENCES
    rows = []
    for word in words if words is not None else list(source):
        vectors, labels = sense_vectors(word, tokenizer=tokenizer, model=model, sentences=source[word])
        within, across = within_across(vectors, labels)
        sims = cosine_matrix(vectors)
        np.fill_diagonal(sims, -np.inf)
        nearest = sims.argmax(1)
        same = float(np.mean([labels[i] == labels[j] for i, j in enumerate(nearest)]))
        rows.append({"word": word, "senses": " / ".join(dict.fromkeys(labels)), "sentences": len(labels),
                     "cosine within a sense": within, "cosine across senses": across, "gap": within - across,
                     "nearest sentence same sense": same})
    return pd.DataFrame(rows).set_index("word")


def plot_sense_similarity(vectors: np.ndarray, labels: Sequence[str], word: str) -> Any:
    """Return a matplotlib figure: the cosine matrix of one word's contextual vectors, senses in blocks (chapter 10)."""
    import matplotlib.pyplot as plt

    from ..plotting import apply_style

    apply_style()
    sims = cosine_matrix(vectors)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    image = ax.imshow(sims, cmap="viridis", vmin=float(np.min(sims)), vmax=1.0)
    senses = list(dict.fromkeys(labels))
    bounds = [labels.index(s) for s in senses[1:]]
    for b in bounds:
        ax.axhline(b - 0.5, color="white", lw=1.5)
        ax.axvline(b - 0.5, color="white", lw=1.5)
    centres = [np.mean([i for i, lab in enumerate(labels) if lab == s]) for s in senses]
    ax.set_xticks(centres, senses)
    ax.set_yticks(centres, senses, rotation=90, va="center")
    ax.set_title(f"'{word}': cosine between contextual vectors (MiniLM)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="cosine")
    fig.tight_layout()
    return fig


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
