"""Masked-language-model data for chapter 10: a WordPiece tokenizer trained on the corpus, the small BERT's
configuration, encoded examples, the masking collator, fixed masked batches, and masked perplexity (chapter 10).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CourseError

__all__ = ["MlmError", "WordNotInSentenceError", "SPECIAL_TOKENS", "Perplexity", "quiet_training", "train_wordpiece",
           "small_bert_config", "encode_for_mlm", "mlm_collator", "fixed_masked_batches", "masked_nll",
           "masked_perplexity", "domain_texts", "split_held_out"]

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
