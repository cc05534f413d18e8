"""Chinese medical NER: encoder -> BiLSTM -> Linear -> CRF, training, prediction, commands (chapter 12).

The encoder is either a character embedding (``encoder="char"``) or a BERT: ``"tiny-bert"`` (a small,
randomly initialised BERT over the course's character vocabulary) or a pretrained one by manifest name
(``bert_base_chinese``, the lab profile's) or local folder. A pretrained BERT reads each chunk as
``[CLS] characters [SEP]``, one token per character taken from its own vocabulary as its tokenizer would give
it, and whitespace as the reserved ``[unused1]`` rather than ``[UNK]``. ``use_lstm=False`` gives the BERT-CRF
ablation. Training uses pytorch-crf's log-likelihood; decoding uses the course's batched Viterbi
(:func:`course_utils.ie.crf.batched_viterbi`) on the CRF's own parameters.

Commands (``python -m course_utils.ie.ner.tagger --help``)::

    python -m course_utils.ie.ner.tagger train   --data BRAT_DIR --out MODEL_DIR [--split SPLIT.json]
    python -m course_utils.ie.ner.tagger predict --model MODEL_DIR --input TXT_DIR --output ANN_DIR
    python -m course_utils.ie.ner.tagger score   --gold BRAT_DIR --pred BRAT_DIR

``train`` also runs data parallel on several GPUs (or CPU processes) under ``torchrun --standalone
--nproc_per_node N -m course_utils.ie.ner.tagger train ...`` (:mod:`course_utils.distributed`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...commands import Verb, run_command
from ...errors import CourseError
from ..bio import (
    RUIJIN_TYPES,
    Chunk,
    EncodeStats,
    bio_to_spans,
    chunk_document,
    decode_document,
    encode_document,
    merge_windows,
    tag_names,
)
from ..brat import BratDocument, Entity, read_folder, read_text_exact, write_document
from ..crf import batched_viterbi, crf_parameters
from ..linebreaks import remove_line_breaks
from ..scoring import Mention, SpanScores, error_classes, score_mentions, scores_table, token_accuracy

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

PAD, UNK = "[PAD]", "[UNK]"
#: the token whitespace becomes in a BERT vocabulary (bert-base-chinese reserves [unused1]..[unused99])
SPACE_TOKEN = "[unused1]"
logger = logging.getLogger(__name__)


class NerError(CourseError, ValueError):
    """A chapter-12 model folder, split file or command argument that cannot be used."""


@dataclass
class CharVocab:
    """One id per character: ``index`` maps characters (or a BERT vocabulary's tokens) to ids (chapter 12).

    Built from the course's own text (:meth:`build`), a character is its own token. Built from a BERT tokenizer
    (:meth:`from_tokenizer`, ``bert_rules=True``), each character gets the id that tokenizer gives it on its own:
    lower-cased and stripped of accents when the tokenizer does so, ``[UNK]`` when its vocabulary lacks it, and
    whitespace and control characters (which BERT's tokenizer deletes) get ``space_id``, a reserved token
    (``[unused1]`` in bert-base-chinese) instead of ``[UNK]``, so the character keeps its position and tag.
    ``overrides`` holds the characters where the tokenizer itself disagreed with those rules (normally none).
    ``cls_id`` and ``sep_id`` are the tokens a BERT encoder wraps each chunk in.
    """

    index: dict[str, int]
    pad_id: int = 0
    unk_id: int = 1
    lower: bool = False
    strip_accents: bool = False
    bert_rules: bool = False
    space_id: int | None = None
    cls_id: int | None = None
    sep_id: int | None = None
    overrides: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, texts: Sequence[str], min_count: int = 1) -> CharVocab:
        """Return the vocabulary of ``texts`` (characters seen ``min_count`` times or more; chapter 12)."""
        counts = Counter(c for t in texts for c in t)
        chars = sorted(c for c, n in counts.items() if n >= min_count)
        return cls({PAD: 0, UNK: 1, **{c: i + 2 for i, c in enumerate(chars)}})

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, texts: Sequence[str] = (), *, space_token: str = SPACE_TOKEN,
                       lowercase: bool | None = None) -> CharVocab:
        """Return the per-character view of a BERT WordPiece tokenizer (bert-base-chinese; chapter 12).

        Case folding and accent stripping are read from the tokenizer's own normaliser; ``lowercase`` overrides
        them (``True``: lower-case and strip accents, as an uncased BERT was pretrained). Every distinct character
        of ``texts`` is then tokenized on its own by the tokenizer (with that normaliser), and where the result
        differs from the rules of :meth:`encode`, the tokenizer's answer is kept in ``overrides``. ``space_token`` (a token the model
        never saw in pretraining, ``[unused1]``) stands for whitespace; without it in the vocabulary the first
        ``[unused...]`` token is taken, and a vocabulary with neither raises :class:`NerError`.
        """
        vocab = dict(tokenizer.get_vocab())
        lower, strip = _normaliser_flags(tokenizer)
        if lowercase is not None and lowercase != lower:
            lower = strip = bool(lowercase)
        space = space_token if space_token in vocab else next(
            (t for t in sorted(vocab, key=vocab.__getitem__) if t.startswith("[unused")), None)
        if space is None:
            raise NerError(f"the tokenizer's vocabulary has neither {space_token} nor any [unused...] token to stand "
                           "for whitespace; give space_token= a token of its vocabulary that the text never uses.")
        specials = {}
        for name in ("pad", "unk", "cls", "sep"):
            token = getattr(tokenizer, f"{name}_token", None)
            if token is None or token not in vocab:
                raise NerError(f"the tokenizer has no {name} token in its vocabulary; chapter 12's BERT path needs "
                               "[PAD], [UNK], [CLS] and [SEP] (a BERT WordPiece tokenizer).")
            specials[name] = vocab[token]
        out = cls(vocab, specials["pad"], specials["unk"], lower=lower, strip_accents=strip, bert_rules=True,
                  space_id=vocab[space], cls_id=specials["cls"], sep_id=specials["sep"])
        chars = sorted({c for t in texts for c in t})
        if chars:
            for c, ids in zip(chars, _tokenize_each(tokenizer, chars, lower, strip), strict=True):
                wanted = ids[0] if ids else out.space_id
                if out._bert_id(c) != wanted:
                    out.overrides[c] = wanted
            if out.overrides:
                logger.info("chapter 12: %d characters follow the tokenizer rather than the per-character rules",
                            len(out.overrides))
        return out

    def __len__(self) -> int:
        return max(self.index.values()) + 1

    def _bert_id(self, c: str) -> int:
        if _deleted_by_bert(c):
            return self.space_id if self.space_id is not None else self.unk_id
        s = c.lower() if self.lower else c
        if self.strip_accents:
            s = "".join(ch for ch in unicodedata.normalize("NFD", s) if unicodedata.category(ch) != "Mn")
        if not s:
            return self.space_id if self.space_id is not None else self.unk_id
        found = self.index.get(s)
        return found if found is not None else _first_wordpiece(s, self.index, self.unk_id)

    def encode(self, text: str) -> list[int]:
        """Return one id per character of ``text`` (unknown characters get ``unk_id``; chapter 12)."""
        get = self.index.get
        if self.bert_rules:
            over = self.overrides
            return [over[c] if c in over else self._bert_id(c) for c in text]
        if self.lower:
            return [get(c, get(c.lower(), self.unk_id)) for c in text]
        return [get(c, self.unk_id) for c in text]


def _normaliser_flags(tokenizer: Any) -> tuple[bool, bool]:
    """Return (lower-case, strip accents) as the tokenizer's BERT normaliser applies them (chapter 12)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = json.loads(backend.to_str()).get("normalizer") or {}
        if state.get("type") != "BertNormalizer":
            raise NerError(f"the tokenizer's normaliser is {state.get('type')!r}, not BertNormalizer: chapter 12's "
                           "character view is for BERT WordPiece tokenizers (bert-base-chinese).")
        lower = bool(state.get("lowercase", True))
        strip = state.get("strip_accents")
        return lower, lower if strip is None else bool(strip)
    lower = bool(getattr(tokenizer, "do_lower_case", False))
    strip = getattr(getattr(tokenizer, "basic_tokenizer", None), "strip_accents", None)
    return lower, lower if strip is None else bool(strip)


def _tokenize_each(tokenizer: Any, chars: Sequence[str], lower: bool, strip: bool) -> list[list[int]]:
    """Return the tokenizer's ids of each character on its own, without special tokens, after a BERT normaliser
    that lower-cases (and strips accents) as given."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        from tokenizers import Tokenizer
        from tokenizers.normalizers import BertNormalizer

        copy = Tokenizer.from_str(backend.to_str())
        copy.normalizer = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=strip,
                                         lowercase=lower)
        return [e.ids for e in copy.encode_batch(list(chars), add_special_tokens=False)]
    return [tokenizer.encode(c, add_special_tokens=False) for c in chars]


def uncased_vocabulary(vocab: dict[str, int] | Any) -> bool:
    """Return True when a WordPiece vocabulary holds every lower-case Latin letter and no upper-case one (chapter 12).

    Such a vocabulary was built from lower-cased text, so its model was pretrained on lower-cased text, whatever
    its tokenizer's configuration says: bert-base-chinese's hub tokenizer does not lower-case
    (``do_lower_case: false``), so every upper-case Latin letter would become ``[UNK]``.
    """
    import string

    return all(c in vocab for c in string.ascii_lowercase) and not any(c in vocab for c in string.ascii_uppercase)


def _deleted_by_bert(c: str) -> bool:
    """True for a character BERT's tokenizer never turns into a token: whitespace or a control character."""
    if c in " \t\n\r" or c.isspace():
        return True
    return c in "\x00\ufffd" or unicodedata.category(c).startswith("C")


def _first_wordpiece(word: str, index: dict[str, int], unk_id: int) -> int:
    """Return the id of the first WordPiece of ``word`` (greedy longest match), or ``unk_id`` as WordPiece would."""
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start and (word[start:end] if start == 0 else "##" + word[start:end]) not in index:
            end -= 1
        if end == start:
            return unk_id
        pieces.append(word[start:end] if start == 0 else "##" + word[start:end])
        start = end
    return index[pieces[0]]


@dataclass
class Example:
    """A training or evaluation chunk: its ids, tag ids and where it sits (chapter 12)."""

    chunk: Chunk
    ids: list[int]
    tags: list[int]


def bilstm_padded(lstm: nn.LSTM, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return a one-layer bidirectional ``lstm`` over right-padded ``hidden`` (batch, length, width) (chapter 12).

    The same outputs at every real position as packing the batch (``pack_padded_sequence``; a test checks it),
    without packing: the forward direction runs on the batch as it is (padding comes after the real characters,
    so it cannot reach them), and the backward direction runs on each sequence reversed within its own length,
    so it starts at the sequence's last real character, not at the padding. On a CPU, autograd through a packed
    LSTM zero-fills the whole packed gate tensor at every time step; this way a batch of 128 x 110 characters
    trains about five times faster. Positions past a sequence's end hold values that the CRF's mask ignores.
    """
    if not (lstm.bidirectional and lstm.num_layers == 1 and lstm.batch_first and lstm.bias):
        raise NerError("bilstm_padded expects a one-layer, batch-first, bidirectional nn.LSTM with biases.")
    batch, length, width = hidden.shape
    size = lstm.hidden_size
    lengths = mask.sum(1)
    state = hidden.new_zeros(1, batch, size)
    forward_params = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0]
    backward_params = [lstm.weight_ih_l0_reverse, lstm.weight_hh_l0_reverse, lstm.bias_ih_l0_reverse,
                       lstm.bias_hh_l0_reverse]
    # torch.lstm is the kernel nn.LSTM calls: (input, (h0, c0), params, has_biases, layers, dropout, train,
    # bidirectional, batch_first)
    forward = torch.lstm(hidden, (state, state), forward_params, True, 1, 0.0, lstm.training, False, True)[0]
    positions = torch.arange(length, device=hidden.device).unsqueeze(0)
    within = positions < lengths.unsqueeze(1)
    order = torch.where(within, lengths.unsqueeze(1) - 1 - positions, positions).unsqueeze(2)  # its own inverse
    reversed_input = hidden.gather(1, order.expand(-1, -1, width))
    backward = torch.lstm(reversed_input, (state, state), backward_params, True, 1, 0.0, lstm.training, False,
                          True)[0]
    return torch.cat([forward, backward.gather(1, order.expand(-1, -1, size))], dim=2)


class NerModel(nn.Module):
    """Encoder -> (BiLSTM) -> dropout -> Linear -> CRF over character tags (chapter 12).

    With a BERT encoder and ``cls_id``/``sep_id`` (a pretrained BERT such as bert-base-chinese), every chunk goes
    into BERT as ``[CLS] characters [SEP]``, the form BERT saw in pretraining, and the two added positions are
    dropped again before the BiLSTM, so there is still one output per character. Calling the model returns the
    training loss (:meth:`loss`), so ``DistributedDataParallel`` can wrap it.
    """

    def __init__(self, tags: Sequence[str], vocab_size: int, *, encoder: str = "char", embedding_dim: int = 128,
                 lstm_hidden: int = 128, use_lstm: bool = True, dropout: float = 0.2,
                 bert: nn.Module | None = None, bigrams: torch.Tensor | int | None = None,
                 bigram_dim: int = 50, cls_id: int | None = None, sep_id: int | None = None,
                 pad_id: int = 0) -> None:
        super().__init__()
        from torchcrf import CRF

        self.tags = tuple(tags)
        self.cls_id, self.sep_id, self.pad_id = cls_id, sep_id, pad_id
        if (cls_id is None) != (sep_id is None):
            raise NerError("give both cls_id and sep_id (a BERT encoder wraps each chunk in [CLS] ... [SEP]) or "
                           "neither.")
        self.encoder_kind = encoder
        self.vocab_size = vocab_size
        self.bigram_embedding: nn.Embedding | None = None
        if encoder == "char":
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
            width = embedding_dim
            self.bert = None
            if bigrams is not None:
                # the known character bigrams as sorted keys first * vocab_size + second; a buffer, so the
                # bigram vocabulary is saved with the weights (an int: an empty table of that size, for loading)
                keys = torch.zeros(bigrams, dtype=torch.long) if isinstance(bigrams, int) else bigrams.long()
                self.register_buffer("bigram_keys", keys)
                self.bigram_embedding = nn.Embedding(keys.numel() + 2, bigram_dim, padding_idx=0)
                width += bigram_dim
        else:
            if bert is None:
                raise NerError(f"encoder {encoder!r} needs a BERT module; use build_model().")
            self.embedding = None
            self.bert = bert
            width = bert.config.hidden_size
        if cls_id is not None and bert is None:
            raise NerError("[CLS]/[SEP] wrapping is for a BERT encoder; the char encoder takes no special tokens.")
        self.lstm = nn.LSTM(width, lstm_hidden, batch_first=True, bidirectional=True) if use_lstm else None
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(2 * lstm_hidden if use_lstm else width, len(self.tags))
        self.crf = CRF(len(self.tags), batch_first=True)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Return the encoder's parameters (embeddings or BERT) for their own learning rate (chapter 12)."""
        if self.bert is not None:
            return list(self.bert.parameters())
        extra = list(self.bigram_embedding.parameters()) if self.bigram_embedding is not None else []
        return list(self.embedding.parameters()) + extra

    def bigram_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return the id of each character's bigram with the next one: 0 padding, 1 unknown, 2.. known."""
        following = torch.cat([ids[:, 1:], ids.new_zeros(ids.shape[0], 1)], dim=1) * mask.roll(-1, 1)
        key = ids * self.vocab_size + following
        keys = self.bigram_keys
        if keys.numel() == 0:
            return torch.where(mask, 1, 0)
        slot = torch.searchsorted(keys, key).clamp(max=keys.numel() - 1)
        known = keys[slot] == key
        return torch.where(mask, torch.where(known, slot + 2, 1), 0)

    def head_parameters(self) -> list[nn.Parameter]:
        """Return the BiLSTM, Linear and CRF parameters (chapter 12)."""
        mine = {id(p) for p in self.encoder_parameters()}
        return [p for p in self.parameters() if id(p) not in mine]

    def encoder_inputs(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return BERT's ``(input_ids, attention_mask)`` for right-padded character ids (chapter 12).

        With ``cls_id``/``sep_id``: ``[CLS]`` first, then the characters, ``[SEP]`` right after each sequence's
        last character, padding after it; width ``length + 2``. Without them, the ids as they are.
        """
        if self.cls_id is None or self.sep_id is None:
            return ids, mask.long()
        batch, length = ids.shape
        lengths = mask.sum(1)
        wrapped = ids.new_full((batch, length + 2), self.pad_id)
        wrapped[:, 0] = self.cls_id
        wrapped[:, 1:length + 1] = torch.where(mask, ids, self.pad_id)
        wrapped.scatter_(1, (lengths + 1).unsqueeze(1), self.sep_id)
        attention = torch.arange(length + 2, device=ids.device).unsqueeze(0) < (lengths + 2).unsqueeze(1)
        return wrapped, attention.long()

    def emissions(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return emission scores ``(batch, length, tags)`` in float32 (chapter 12).

        A BERT encoder runs under mixed precision on a GPU (:func:`course_utils.device.autocast`: bfloat16, or
        float16 on older cards); BiLSTM, Linear and CRF stay in float32.
        """
        if self.bert is None:
            hidden = self.embedding(ids)
            if self.bigram_embedding is not None:
                hidden = torch.cat([hidden, self.bigram_embedding(self.bigram_ids(ids, mask))], dim=2)
        else:
            from ...device import autocast

            input_ids, attention = self.encoder_inputs(ids, mask)
            with autocast(ids.device):
                hidden = self.bert(input_ids=input_ids, attention_mask=attention).last_hidden_state
            hidden = hidden.float()
            if self.cls_id is not None:
                hidden = hidden[:, 1:ids.shape[1] + 1]  # drop [CLS]; [SEP] and padding lie past each length
        hidden = self.dropout(hidden)
        if self.lstm is not None:
            hidden = self.dropout(bilstm_padded(self.lstm, hidden, mask))
        return self.linear(hidden)

    def loss(self, ids: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor,
             normaliser: float | torch.Tensor | None = None) -> torch.Tensor:
        """Return the CRF's negative log-likelihood summed over the batch, divided by ``normaliser`` (chapter 12).

        By default ``normaliser`` is the number of characters in the batch: the mean per character. In a
        data-parallel run each process holds a shard of the global batch and passes the global batch's
        character count divided by the number of processes, so that the gradients that
        ``DistributedDataParallel`` averages equal those of the whole batch on one process, whatever the
        shards' sizes (a mean over each shard's own characters would weigh a short shard's characters more).
        """
        llh = self.crf(self.emissions(ids, mask), tags, mask, reduction="sum")
        return -llh / (mask.sum() if normaliser is None else normaliser)

    def forward(self, ids: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor,
                normaliser: float | torch.Tensor | None = None) -> torch.Tensor:
        """Return :meth:`loss` (so that ``DistributedDataParallel`` can wrap the model; chapter 12)."""
        return self.loss(ids, tags, mask, normaliser)

    @torch.no_grad()
    def decode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return the Viterbi tag ids ``(batch, length)`` (positions past each length: mask them)."""
        return batched_viterbi(self.emissions(ids, mask), mask, *crf_parameters(self.crf))


def _tiny_bert_config(vocab_size: int, max_length: int) -> dict[str, Any]:
    return dict(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=128, max_position_embeddings=max(512, max_length))


def build_model(encoder: str, vocab: CharVocab | None, *, texts: Sequence[str] = (), max_length: int = 128,
                lstm_hidden: int = 128, embedding_dim: int = 128, use_lstm: bool = True, dropout: float = 0.2,
                types: Sequence[str] = RUIJIN_TYPES, bigram_min_count: int | None = None,
                bigram_dim: int = 50) -> tuple[NerModel, CharVocab, dict[str, Any]]:
    """Return ``(model, vocabulary, meta)`` for ``encoder`` = ``char``, ``tiny-bert`` or a pretrained BERT.

    ``char`` and ``tiny-bert`` build their vocabulary from ``texts`` when ``vocab`` is None. Any other
    ``encoder`` is a pretrained BERT: a model manifest's name (``bert_base_chinese``, the lab profile's, resolved
    by :func:`course_utils.text.pretrained.model_folder` to its verified folder after ``python -m
    course_utils.data fetch bert_base_chinese``) or a local folder holding ``config.json``, the weights and the
    tokenizer files; it is never downloaded here. Its vocabulary is the tokenizer's, seen one character at a
    time (:meth:`CharVocab.from_tokenizer`, checked on the characters of ``texts``), and the model wraps each
    chunk in ``[CLS] ... [SEP]``. ``bigram_min_count`` (``char``
    only) adds a second embedding for each character's bigram with the next one, over the bigrams of ``texts``
    seen at least that often (the others share one "unknown" row), as Chinese NER baselines do. ``meta``
    holds what :func:`load_model` needs to rebuild the model. Chapter 12.
    """
    tags = tag_names(types)
    meta: dict[str, Any] = dict(encoder=encoder, tags=list(tags), lstm_hidden=lstm_hidden, use_lstm=use_lstm,
                                embedding_dim=embedding_dim, dropout=dropout, max_length=max_length)
    if encoder in ("char", "tiny-bert"):
        vocab = vocab or CharVocab.build(list(texts))
        bert = None
        if encoder == "tiny-bert":
            from transformers import BertConfig, BertModel

            meta["bert_config"] = _tiny_bert_config(len(vocab), max_length)
            bert = BertModel(BertConfig(**meta["bert_config"]), add_pooling_layer=False)
    else:
        from transformers import AutoTokenizer, BertModel

        folder = _bert_folder(encoder)
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the pretraining heads and pooler are left out on purpose: no report
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            bert = BertModel.from_pretrained(str(folder), add_pooling_layer=False, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise NerError(f"cannot load a BERT from {folder}: {exc}. It needs config.json, the weights "
                           "(model.safetensors or pytorch_model.bin) and vocab.txt or tokenizer.json; for the "
                           "course's model run `python -m course_utils.data fetch bert_base_chinese`.") from exc
        finally:
            hf_logging.set_verbosity(verbosity)
        uncased = uncased_vocabulary(tokenizer.get_vocab())
        vocab = vocab or CharVocab.from_tokenizer(tokenizer, texts, lowercase=True if uncased else None)
        meta["lowercase"] = vocab.lower
        limit = int(bert.config.max_position_embeddings)
        if max_length + 2 > limit:
            raise NerError(f"max_length {max_length} plus [CLS] and [SEP] exceeds the {limit} positions of the "
                           f"BERT in {folder}; use max_length <= {limit - 2}.")
        meta["bert_config"] = bert.config.to_dict()
        meta["encoder_folder"] = str(folder)
    keys = None
    if bigram_min_count is not None:
        if encoder != "char":
            raise NerError(f"bigram embeddings are for the char encoder, not {encoder!r}.")
        keys = bigram_keys(texts, vocab, bigram_min_count)
        meta.update(bigrams=int(keys.numel()), bigram_dim=bigram_dim, bigram_min_count=bigram_min_count)
    model = NerModel(tags, len(vocab), encoder=encoder, embedding_dim=embedding_dim, lstm_hidden=lstm_hidden,
                     use_lstm=use_lstm, dropout=dropout, bert=bert, bigrams=keys, bigram_dim=bigram_dim,
                     cls_id=vocab.cls_id if bert is not None else None,
                     sep_id=vocab.sep_id if bert is not None else None, pad_id=vocab.pad_id)
    return model, vocab, meta


def _bert_folder(encoder: str) -> Path:
    """Return the local folder of a pretrained BERT: ``encoder`` itself if it is a folder, else its manifest's."""
    path = Path(encoder).expanduser()
    if path.is_dir():
        return path
    from ...text.pretrained import model_folder

    where = model_folder(encoder)
    if not isinstance(where, Path):
        raise NerError(f"{encoder!r} is neither a model folder nor a model manifest (data_manifests/*.yaml): "
                       "chapter 12 loads a BERT only from a local, verified folder. Fetch the course's with "
                       "`python -m course_utils.data fetch bert_base_chinese` and pass bert_base_chinese, or "
                       "pass the path of a folder that holds config.json, the weights and the tokenizer files.")
    return where


def bigram_keys(texts: Sequence[str], vocab: CharVocab, min_count: int = 2) -> torch.Tensor:
    """Return the sorted keys ``first_id * len(vocab) + second_id`` of the character bigrams of ``texts`` seen at
    least ``min_count`` times (chapter 12; line breaks removed first, as the model reads the text)."""
    from collections import Counter

    counts: Counter[int] = Counter()
    size = len(vocab)
    for text in texts:
        ids = vocab.encode(remove_line_breaks(text)[0])
        counts.update(a * size + b for a, b in zip(ids, ids[1:]))
    return torch.tensor(sorted(k for k, n in counts.items() if n >= min_count), dtype=torch.long)


def pretrain_embeddings(model: NerModel, vocab: CharVocab, texts: Sequence[str], *, epochs: int = 5, window: int = 5,
                        negative: int = 5, sample: float = 1e-3, seed: int = 1234,
                        workers: int = 1) -> dict[str, Any]:
    """Initialise ``model``'s character (and bigram) embeddings with skip-gram vectors of ``texts`` (chapter 12).

    Published Chinese NER systems start from character and bigram vectors pretrained on large text; here the
    same recipe runs on the training documents themselves (gensim's word2vec, skip-gram with negative
    sampling, the algorithm of chapter 9), so no test text is seen. Line breaks are removed first, as the
    model reads the text. Each table keeps its random rows for ids the text lacks; the pretrained rows are
    rescaled to the table's current standard deviation, so the model's first steps see inputs of the size
    they would have had. ``sample`` is word2vec's down-sampling of frequent tokens (0 for none; a text of a few
    thousand characters needs 0, since every character in it is frequent). Returns counts and seconds.
    ``workers=1`` keeps the vectors reproducible.
    """
    from gensim.models import Word2Vec

    if model.embedding is None:
        raise NerError("pretrained embeddings are for the char encoder; a BERT encoder is already pretrained.")
    started = time.perf_counter()
    size = len(vocab)
    char_sentences: list[list[str]] = []
    bigram_sentences: list[list[str]] = []
    for text in texts:
        ids = vocab.encode(remove_line_breaks(text)[0])
        for start in range(0, len(ids), 1000):  # word2vec's sentences: pieces of at most 1,000 tokens
            piece = ids[start:start + 1001]
            char_sentences.append([str(i) for i in piece[:1000]])
            bigram_sentences.append([str(a * size + b) for a, b in zip(piece, piece[1:])])
    stats: dict[str, Any] = {"characters": sum(len(s) for s in char_sentences)}

    def fit(sentences: list[list[str]], table: nn.Embedding, row_of: dict[int, int]) -> int:
        w2v = Word2Vec(sentences, vector_size=table.embedding_dim, window=window, min_count=1, sg=1,
                       negative=negative, sample=sample, epochs=epochs, seed=seed, workers=workers)
        rows, vectors = [], []
        for token in w2v.wv.index_to_key:
            row = row_of.get(int(token))
            if row is not None and row != table.padding_idx:
                rows.append(row)
                vectors.append(w2v.wv[token])
        if rows:
            with torch.no_grad():
                weight = table.weight
                v = torch.tensor(np.stack(vectors), dtype=weight.dtype)
                v = v * (weight.std() / v.std().clamp(min=1e-12))
                weight[torch.tensor(rows)] = v.to(weight.device)
        return len(rows)

    stats["character_rows"] = fit(char_sentences, model.embedding, {i: i for i in range(size)})
    if model.bigram_embedding is not None:
        keys = model.bigram_keys.cpu().tolist()
        stats["bigram_rows"] = fit(bigram_sentences, model.bigram_embedding,
                                   {k: slot + 2 for slot, k in enumerate(keys)})
    stats["seconds"] = time.perf_counter() - started
    return stats


def make_examples(docs: Sequence[BratDocument], vocab: CharVocab, tags: Sequence[str], *, max_length: int,
                  stride: int = 16) -> tuple[list[Example], EncodeStats]:
    """Return training chunks of ``docs`` (line breaks removed, stated BIO policy) and the policy's counts."""
    tag_id = {t: i for i, t in enumerate(tags)}
    types = {t[2:] for t in tags if t != "O"}
    examples, stats = [], EncodeStats()
    for doc in docs:
        enc = encode_document(doc, types=types)
        stats.add(enc.stats)
        for chunk in chunk_document(enc.text, max_length=max_length, stride=stride, protected=enc.spans,
                                    doc_id=doc.doc_id):
            text = enc.text[chunk.start:chunk.end]
            examples.append(Example(chunk, vocab.encode(text), [tag_id[t] for t in enc.tags[chunk.start:chunk.end]]))
    return examples, stats


def _batch_groups(examples: Sequence[Example], batch_size: int, rng: np.random.Generator | None) -> list[list[int]]:
    """Return the example indices of each batch; lengths are bucketed (sorted, then batches shuffled)."""
    order = np.argsort([len(e.ids) for e in examples], kind="stable")
    if rng is not None:  # shuffle within similar lengths, then the batches
        noise = rng.random(len(examples)) * 8
        order = np.argsort(np.array([len(e.ids) for e in examples]) + noise, kind="stable")
    groups = [[int(i) for i in order[i:i + batch_size]] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(groups)
    return groups


def _pad(examples: Sequence[Example], group: Sequence[int], device: Any
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return right-padded ids, tags and mask of ``examples[group]`` on ``device``."""
    width = max(len(examples[i].ids) for i in group)
    ids = torch.zeros((len(group), width), dtype=torch.long)
    tags = torch.zeros((len(group), width), dtype=torch.long)
    for row, i in enumerate(group):
        n = len(examples[i].ids)
        ids[row, :n] = torch.tensor(examples[i].ids)
        tags[row, :n] = torch.tensor(examples[i].tags)
    mask = torch.arange(width)[None] < torch.tensor([len(examples[i].ids) for i in group])[:, None]
    return ids.to(device), tags.to(device), mask.to(device)


def _batches(examples: Sequence[Example], batch_size: int, rng: np.random.Generator | None,
             device: Any) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]]:
    """Return padded batches with their example indices (see :func:`_batch_groups`)."""
    return [(*_pad(examples, group, device), group) for group in _batch_groups(examples, batch_size, rng)]


@torch.no_grad()
def _predict_examples(model: NerModel, examples: Sequence[Example], batch_size: int, device: Any) -> list[list[int]]:
    was_training = model.training
    model.eval()
    preds: list[list[int]] = [[] for _ in examples]
    for ids, _, mask, group in _batches(examples, batch_size, None, device):
        paths = model.decode(ids, mask).cpu()
        lengths = mask.sum(1).cpu()
        for row, i in enumerate(group):
            preds[i] = paths[row, :lengths[row]].tolist()
    model.train(was_training)
    return preds


def chunk_f1(model: NerModel, examples: Sequence[Example], *, batch_size: int = 64, device: Any = "cpu") -> float:
    """Return the exact span + type micro-F1 over chunks (fast validation score; chapter 12)."""
    preds = _predict_examples(model, examples, batch_size, device)
    tags = model.tags
    gold, pred = [], []
    for k, (ex, p) in enumerate(zip(examples, preds, strict=True)):
        gold += [Mention(str(k), t, ((a, b),)) for a, b, t in bio_to_spans([tags[i] for i in ex.tags])]
        pred += [Mention(str(k), t, ((a, b),)) for a, b, t in bio_to_spans([tags[i] for i in p])]
    return score_mentions(gold, pred).micro_f1


@dataclass
class TrainConfig:
    """Training knobs (chapter 12). ``patience`` epochs without a better validation F1 stop training."""

    epochs: int = 10
    batch_size: int = 32
    lr_encoder: float = 1e-3
    lr_head: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 3
    lr_decay: float = 1.0  # both learning rates are multiplied by this after every epoch
    ema_decay: float | None = None  # validate, keep and return an exponential moving average of the weights
    grad_clip: float = 5.0
    max_minutes: float | None = None
    train_f1_sample: int = 300
    rare_types: tuple[str, ...] = ()
    rare_oversample: int = 1
    early_stopping: bool = True
    seed: int = 1234


@dataclass
class TrainResult:
    """Per-epoch history (loss, train F1, validation F1, seconds), best epoch and its validation F1."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_f1: float = 0.0
    stopped: str = ""
    seconds: float = 0.0


def _oversample(examples: Sequence[Example], tags: Sequence[str], rare: Sequence[str], factor: int) -> list[Example]:
    if factor <= 1 or not rare:
        return list(examples)
    rare_ids = {i for i, t in enumerate(tags) if t[2:] in set(rare)}
    out = list(examples)
    for ex in examples:
        if rare_ids.intersection(ex.tags):
            out += [ex] * (factor - 1)
    return out


def train_ner(model: NerModel, train: Sequence[Example], val: Sequence[Example], config: TrainConfig, *,
              device: Any = "cpu", show_progress: bool = True, ctx: Any = None) -> TrainResult:
    """Train ``model`` with validation after each epoch and early stopping; return the history (chapter 12).

    Two learning rates: ``lr_encoder`` for the embedding or BERT, ``lr_head`` for BiLSTM, Linear and CRF.
    Chunks holding a rare type are repeated ``rare_oversample`` times per epoch. The weights of the best
    validation epoch are restored at the end (also when early stopping is off: then it is just the record).
    With ``ema_decay`` (e.g. 0.998), torch's ``AveragedModel`` keeps an exponential moving average of the
    weights, updated after every step; validation, the best state and the returned model use the average,
    which smooths the step-to-step noise of a validation F1 that has levelled off. A BERT encoder runs under
    mixed precision on a GPU (float16 with a gradient scaler where the card lacks bfloat16).

    Data parallel (``ctx``, a :class:`course_utils.distributed.DistributedContext` of a ``torchrun`` launch):
    every process draws the same global batches of ``batch_size`` chunks and trains on its share
    (:func:`course_utils.distributed.shard_batch`); ``DistributedDataParallel`` averages the gradients, and the
    loss is normalised by the global batch's characters (:meth:`NerModel.loss`), so a step equals one step on
    the whole batch. A last batch with fewer chunks than processes is skipped. Rank 0 alone validates; its
    scores reach the others, so all stop together. ``device`` is ignored when ``ctx`` is given (each process
    uses ``ctx.device``).
    """
    from ...device import amp_dtype
    from ...distributed import DistributedContext, all_reduce_mean, shard_batch, wrap_model
    from ...progress import progress
    from ...seeding import seed_everything

    if ctx is None:
        ctx = DistributedContext(0, 1, 0, torch.device(device))
    device = ctx.device
    rng = seed_everything(config.seed)
    model.to(device)
    optimiser = torch.optim.AdamW([
        {"params": model.encoder_parameters(), "lr": config.lr_encoder},
        {"params": model.head_parameters(), "lr": config.lr_head},
    ], weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler(torch.device(device).type,
                                  enabled=model.bert is not None and amp_dtype(device) == torch.float16)
    net = wrap_model(model, ctx)
    data = _oversample(train, model.tags, config.rare_types, config.rare_oversample)
    averaged = None
    if config.ema_decay is not None:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        # buffers (the bigram keys) are constants: the copy keeps them; only the weights are averaged
        averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay))
    scored = averaged.module if averaged is not None else model
    sample_idx = rng.choice(len(train), size=min(config.train_f1_sample, len(train)), replace=False)
    train_sample = [train[int(i)] for i in sample_idx]
    result = TrainResult()
    best_state: dict[str, torch.Tensor] | None = None
    started = time.perf_counter()
    waited = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        total, steps = 0.0, 0
        groups = _batch_groups(data, config.batch_size, rng)
        if ctx.distributed:
            groups = [g for g in groups if len(g) >= ctx.world_size]
        shown = show_progress and ctx.is_main
        iterator = progress(groups, desc=f"epoch {epoch}", leave=False) if shown else groups
        out_of_time = False
        for group in iterator:
            mine = shard_batch(group, ctx)
            ids, tags, mask = _pad(data, mine, device)
            normaliser = sum(len(data[i].ids) for i in group) / ctx.world_size
            loss = net(ids, tags, mask, normaliser)
            optimiser.zero_grad()
            scaler.scale(loss).backward()
            scaler.unscale_(optimiser)
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(optimiser)
            scaler.update()
            if averaged is not None:
                averaged.update_parameters(model)
            total += float(loss.detach())
            steps += 1
            if config.max_minutes:
                late = float(time.perf_counter() - started > 60 * config.max_minutes)
                if all_reduce_mean(late, ctx) > 0:  # every process stops at the same step
                    out_of_time = True
                    break
        val_f1 = train_f1 = 0.0
        if ctx.is_main:
            val_f1 = chunk_f1(scored, val, device=device)
            train_f1 = chunk_f1(scored, train_sample, device=device)
        val_f1, train_f1 = _from_main([val_f1, train_f1], ctx)
        record = dict(epoch=epoch, loss=all_reduce_mean(total / max(steps, 1), ctx), train_f1=train_f1,
                      val_f1=val_f1, seconds=time.perf_counter() - started, lr_head=optimiser.param_groups[-1]["lr"])
        result.history.append(record)
        if val_f1 > result.best_val_f1 or best_state is None:
            result.best_val_f1, result.best_epoch, waited = val_f1, epoch, 0
            best_state = {k: v.detach().clone() for k, v in scored.state_dict().items()}
        else:
            waited += 1
        if out_of_time:
            result.stopped = f"time limit {config.max_minutes} min reached in epoch {epoch}"
            break
        for group_lr in optimiser.param_groups:
            group_lr["lr"] *= config.lr_decay
        if config.early_stopping and waited >= config.patience:
            result.stopped = f"early stop: no better validation F1 for {config.patience} epochs"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - started
    result.stopped = result.stopped or "all epochs run"
    return result


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
#: ``book/results/ch12.md`` (run 6 is the one the validation documents choose among runs 1-7);
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


def _from_main(values: Sequence[float], ctx: Any) -> list[float]:
    """Return rank 0's ``values`` on every process (one process: the values themselves)."""
    if not ctx.distributed:
        return [float(v) for v in values]
    import torch.distributed as dist

    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=ctx.device)
    dist.broadcast(tensor, 0)
    return [float(v) for v in tensor.tolist()]


def predict_documents(model: NerModel, vocab: CharVocab, texts: Sequence[str], *, max_length: int = 128,
                      stride: int = 16, batch_size: int = 64, device: Any = "cpu",
                      doc_ids: Sequence[str] | None = None) -> tuple[list[list[Entity]], list[list[str]]]:
    """Return predicted entities in ORIGINAL offsets per text, and the cleaned-text tags (chapter 12).

    Each text loses its line breaks, is cut at sentence punctuation into windows of ``max_length`` (overlap
    ``stride``), tagged, merged and decoded; spans over a deleted line break come back as two fragments.
    """
    ids = list(doc_ids) if doc_ids is not None else [str(i) for i in range(len(texts))]
    cleaned, examples, owners = [], [], []
    for d, text in enumerate(texts):
        clean, offsets = remove_line_breaks(text)
        cleaned.append((clean, offsets))
        for chunk in chunk_document(clean, max_length=max_length, stride=stride, doc_id=ids[d]):
            piece = clean[chunk.start:chunk.end]
            examples.append(Example(chunk, vocab.encode(piece), [0] * len(piece)))
            owners.append(d)
    preds = _predict_examples(model, examples, batch_size, device) if examples else []
    windows: list[list[tuple[int, int, list[str]]]] = [[] for _ in texts]
    for ex, d, p in zip(examples, owners, preds, strict=True):
        windows[d].append((ex.chunk.start, ex.chunk.end, [model.tags[i] for i in p]))
    entities, all_tags = [], []
    for d, (clean, offsets) in enumerate(cleaned):
        tags = merge_windows(len(clean), windows[d])
        all_tags.append(tags)
        entities.append(decode_document(tags, offsets, doc_id=ids[d]))
    return entities, all_tags


@dataclass
class Evaluation:
    """Exact span + type scores on the original brat offsets, error classes, token accuracy, and the predicted
    entities of each document (chapter 12)."""

    scores: SpanScores
    errors: dict[str, int]
    token_accuracy: float
    gold_tags: list[list[str]]
    pred_tags: list[list[str]]
    entities: list[list[Entity]] = field(default_factory=list)

    def table(self) -> Any:
        """Return the per-type table with micro and macro rows (pandas; chapter 12)."""
        return scores_table(self.scores, [t for t in RUIJIN_TYPES if t in self.scores.per_type]
                            or None)


def mentions_of(doc_id: str, entities: Sequence[Entity]) -> list[Mention]:
    """Return scoring mentions of brat entities (chapter 12)."""
    return [Mention(doc_id, e.type, e.spans) for e in entities]


def evaluate_documents(model: NerModel, vocab: CharVocab, docs: Sequence[BratDocument], *, max_length: int = 128,
                       stride: int = 16, device: Any = "cpu") -> Evaluation:
    """Return the :class:`Evaluation` of ``model`` on brat documents, every gold entity counted (chapter 12)."""
    entities, pred_tags = predict_documents(model, vocab, [d.text for d in docs], max_length=max_length,
                                            stride=stride, device=device, doc_ids=[d.doc_id for d in docs])
    gold = [m for d in docs for m in mentions_of(d.doc_id, d.entities)]
    pred = [m for d, ents in zip(docs, entities, strict=True) for m in mentions_of(d.doc_id, ents)]
    gold_tags = [encode_document(d).tags for d in docs]
    return Evaluation(score_mentions(gold, pred), error_classes(gold, pred), token_accuracy(gold_tags, pred_tags),
                      gold_tags, pred_tags, entities)


def document_counts(docs: Sequence[BratDocument], predicted: Sequence[Sequence[Entity]]) -> np.ndarray:
    """Return a ``(documents, 3)`` array of exact span + type TP, FP, FN per document (chapter 12)."""
    rows = []
    for doc, ents in zip(docs, predicted, strict=True):
        micro = score_mentions(mentions_of(doc.doc_id, doc.entities), mentions_of(doc.doc_id, ents)).micro
        rows.append((micro.tp, micro.fp, micro.fn))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def bootstrap_micro_f1(counts: Sequence[np.ndarray], *, replicates: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float, float]:
    """Return ``(mean, low, high)``: the seed-mean micro-F1 and its document-level bootstrap interval (chapter 12).

    ``counts`` holds one :func:`document_counts` array per seed, all over the same documents. Each replicate
    draws the documents with replacement (the same draw for every seed), pools each seed's counts over the draw,
    and averages the seeds' micro-F1; the interval is the ``level`` percentile range of those averages.
    """
    stacked = np.stack([np.asarray(c, dtype=np.float64) for c in counts])  # seeds x documents x 3
    if stacked.ndim != 3 or stacked.shape[1] == 0:
        raise NerError("bootstrap needs per-document counts of at least one document for each seed.")

    def f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
        denominator = 2 * tp + fp + fn
        return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)

    total = stacked.sum(axis=1)
    mean = float(f1(total[:, 0], total[:, 1], total[:, 2]).mean())
    rng = np.random.default_rng(seed)
    n = stacked.shape[1]
    draws = rng.integers(0, n, size=(replicates, n))
    weights = np.stack([np.bincount(d, minlength=n) for d in draws]).astype(np.float64)  # replicates x documents
    pooled = np.einsum("rd,sdk->rsk", weights, stacked)
    means = f1(pooled[..., 0], pooled[..., 1], pooled[..., 2]).mean(axis=1)
    tail = (1 - level) / 2
    return mean, float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def save_model(folder: str | os.PathLike[str], model: NerModel, vocab: CharVocab, meta: dict[str, Any]) -> Path:
    """Write ``model.pt``, ``vocab.json`` and ``config.json`` into ``folder`` atomically; return it."""
    from ...paths import staged_directory

    with staged_directory(folder) as tmp:
        torch.save(model.state_dict(), Path(tmp) / "model.pt")
        (Path(tmp) / "vocab.json").write_text(json.dumps(asdict(vocab), ensure_ascii=False), encoding="utf-8")
        (Path(tmp) / "config.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return Path(folder)


def load_model(folder: str | os.PathLike[str]) -> tuple[NerModel, CharVocab, dict[str, Any]]:
    """Return ``(model, vocab, meta)`` saved by :func:`save_model` (chapter 12)."""
    root = Path(folder)
    for name in ("model.pt", "vocab.json", "config.json"):
        if not (root / name).is_file():
            raise NerError(f"{root} has no {name}: it is not a model folder written by "
                           "`python -m course_utils.ie.ner.tagger train`.")
    try:
        meta = json.loads((root / "config.json").read_text(encoding="utf-8"))
        vocab = CharVocab(**json.loads((root / "vocab.json").read_text(encoding="utf-8")))
        meta["encoder"], meta["tags"]  # noqa: B018 (the two fields every model folder must have)
    except (json.JSONDecodeError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise NerError(f"{root}: config.json or vocab.json is damaged ({type(exc).__name__}: {exc}); train the "
                       "model again with `python -m course_utils.ie.ner.tagger train`.") from exc
    bert = None
    if meta["encoder"] != "char":
        from transformers import BertConfig, BertModel

        bert = BertModel(BertConfig(**meta["bert_config"]), add_pooling_layer=False)
    model = NerModel(meta["tags"], len(vocab), encoder=meta["encoder"], embedding_dim=meta["embedding_dim"],
                     lstm_hidden=meta["lstm_hidden"], use_lstm=meta["use_lstm"], dropout=meta["dropout"], bert=bert,
                     bigrams=meta.get("bigrams"), bigram_dim=meta.get("bigram_dim", 50),
                     cls_id=vocab.cls_id if bert is not None else None,
                     sep_id=vocab.sep_id if bert is not None else None, pad_id=vocab.pad_id)
    model.load_state_dict(torch.load(root / "model.pt", map_location="cpu", weights_only=True))
    model.eval()
    return model, vocab, meta


def make_split(doc_ids: Sequence[str], *, seed: int = 1234, fractions: tuple[float, float] = (0.8, 0.1)
               ) -> dict[str, list[str]]:
    """Return a document-level ``{"train", "val", "test"}`` split of ``doc_ids`` (chapter 12)."""
    ids = sorted(doc_ids, key=lambda s: (0, int(s)) if s.isdigit() else (1, s))
    order = np.random.default_rng(seed).permutation(len(ids))
    n_train = int(round(fractions[0] * len(ids)))
    n_val = int(round(fractions[1] * len(ids)))
    pick = lambda idx: sorted((ids[i] for i in idx), key=lambda s: (0, int(s)) if s.isdigit() else (1, s))  # noqa: E731
    return {"train": pick(order[:n_train]), "val": pick(order[n_train:n_train + n_val]),
            "test": pick(order[n_train + n_val:])}


def load_split(path: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """Return a split file's ``train``/``val``/``test`` id lists; default: the committed Ruijin split."""
    file = Path(path) if path else Path(__file__).parent.parent / "splits" / "ruijin_split.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise NerError(f"cannot read split file {file}: {exc}. Give a JSON file with train/val/test id lists.") from exc
    missing = {"train", "val", "test"} - set(data)
    if missing:
        raise NerError(f"split file {file} lacks {sorted(missing)}; it needs train, val and test lists of ids.")
    return {k: [str(i) for i in data[k]] for k in ("train", "val", "test")}


@dataclass
class ChapterData:
    """The chapter's documents: train, validation and test, where they came from, whether text may be shown."""

    train: tuple[BratDocument, ...]
    val: tuple[BratDocument, ...]
    test: tuple[BratDocument, ...]
    source: str
    redistributable: bool


def chapter_data(settings: Any, work_dir: str | os.PathLike[str]) -> ChapterData:
    """Return the chapter-12 documents of a profile: synthetic (smoke) or the Ruijin split (lab, full).

    Smoke writes ``settings.n_documents`` synthetic training documents, a quarter as many for validation
    (same surface forms) and half as many test documents (half of their mentions held out) as brat folders
    under ``work_dir/ch12`` (cached by the settings) and reads them back with the brat reader.
    ``settings.max_documents`` / ``max_eval_documents`` (a rehearsal's size knobs) keep the first documents of
    each split.
    """
    from ...cache import cache_key, cached_folder
    from .synthetic import synthetic_documents, write_synthetic_folder

    if settings.dataset == "synthetic":
        n = settings.n_documents
        key = cache_key("ch12-synthetic", {"n": n, "seed": settings.seed, "v": 1})

        def build(folder: Path) -> None:
            write_synthetic_folder(folder / "train", synthetic_documents(n, seed=settings.seed))
            write_synthetic_folder(folder / "val", synthetic_documents(max(2, n // 4), seed=settings.seed,
                                                                       first_id=10_000))
            write_synthetic_folder(folder / "test", synthetic_documents(max(2, n // 2), seed=settings.seed,
                                                                        held_out=True, first_id=20_000))

        root = cached_folder(key, build, root=Path(work_dir) / "ch12")
        parts = [read_folder(root / name).documents for name in ("train", "val", "test")]
        return ChapterData(*_capped(*parts, settings), source=f"synthetic ({root})", redistributable=True)
    from ...data.store import require_dataset

    corpus = read_folder(require_dataset(settings.dataset))
    split = load_split()
    train, val, test = (corpus.subset(split[k]).documents for k in ("train", "val", "test"))
    return ChapterData(*_capped(train, val, test, settings), source=settings.dataset,
                       redistributable=corpus.redistributable)


def _capped(train: tuple[BratDocument, ...], val: tuple[BratDocument, ...], test: tuple[BratDocument, ...],
            settings: Any) -> tuple[tuple[BratDocument, ...], ...]:
    """Return the splits cut to ``settings.max_documents`` (train) and ``max_eval_documents`` (val, test)."""
    most, most_eval = getattr(settings, "max_documents", None), getattr(settings, "max_eval_documents", None)
    return (train[:most] if most else train, val[:most_eval] if most_eval else val,
            test[:most_eval] if most_eval else test)


def unseen_scores(train: Sequence[BratDocument], test: Sequence[BratDocument],
                  predicted: Sequence[Sequence[Entity]]) -> SpanScores:
    """Return exact span scores restricted to mentions whose (type, surface) never occurs in ``train``.

    Gold and predicted mentions are both restricted by their own surface (line breaks removed), so the
    score says how well the model finds names it has never seen. Chapter 12.
    """
    def surface(doc: BratDocument, spans: tuple[tuple[int, int], ...]) -> str:
        return "".join(doc.text[a:b] for a, b in spans).replace("\n", "").replace("\r", "")

    seen = {(e.type, surface(d, e.spans)) for d in train for e in d.entities}
    gold = [Mention(d.doc_id, e.type, e.spans) for d in test for e in d.entities
            if (e.type, surface(d, e.spans)) not in seen]
    pred = [Mention(d.doc_id, e.type, e.spans) for d, ents in zip(test, predicted, strict=True) for e in ents
            if (e.type, surface(d, e.spans)) not in seen]
    return score_mentions(gold, pred)


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
      --split course_utils/ie/splits/ruijin_split.json --recipe ruijin-run6 --threads 2 --out model
  trains what benchmarks/ch12_ruijin.py --recipe ruijin-run6 measured; any option overrides one field.

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
