"""Continued masked-language-model pretraining for chapter 10: the Trainer's arguments, full fine-tuning or LoRA
(peft) on the same model, the trainable-parameter counts and the table of adapted layers (chapter 10).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..progress import progress_bar
from ..seeding import seed_everything
from .mlm_data import MlmError, mlm_collator, quiet_training

# --------------------------------------------------------------------------------------------------------------
# Training with HF Trainer


__all__ = ["FineTuneResult", "add_lora", "trainable_parameters", "training_arguments", "fine_tune", "lora_modules",
           "lora_parameter_table"]

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
