"""The chapter-12 tagger's network: the character vocabulary, the encoder -> BiLSTM -> Linear -> CRF model,
building it (character embedding, tiny BERT or a pretrained BERT folder), pretraining character embeddings,
saving and loading (chapter 12).

A pretrained BERT reads each chunk as ``[CLS] characters [SEP]``, one token per character taken from its own
vocabulary as its tokenizer would give it, and whitespace as the reserved ``[unused1]`` rather than ``[UNK]``.
"""

from __future__ import annotations

import json
import logging
import os
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import CourseError
from ..bio import (
    RUIJIN_TYPES,
    Chunk,
    tag_names,
)
from ..crf import batched_viterbi, crf_parameters
from ..linebreaks import remove_line_breaks

__all__ = ["NerError", "CharVocab", "SPACE_TOKEN", "uncased_vocabulary", "Example", "NerModel", "bilstm_padded", "build_model",
           "bigram_keys", "pretrain_embeddings", "save_model", "load_model"]

logger = logging.getLogger(__name__)

PAD, UNK = "[PAD]", "[UNK]"
#: the token whitespace becomes in a BERT vocabulary (bert-base-chinese reserves [unused1]..[unused99])
SPACE_TOKEN = "[unused1]"


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
