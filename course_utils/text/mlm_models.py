"""The models chapter 10 adapts: the small BERT trained from scratch in smoke (cached by its settings), the
pretrained base of lab and full by manifest, and loading a tokenizer and masked-LM from either (chapter 10).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..cache import cache_key, cached_folder
from ..seeding import seed_everything
from .mlm_data import MlmError, domain_texts, encode_for_mlm, quiet_training, small_bert_config, train_wordpiece
from .mlm_training import fine_tune

# --------------------------------------------------------------------------------------------------------------
# The base model: the course's small BERT (smoke) or a model manifest's verified folder (lab/full)


__all__ = ["small_bert_folder", "load_mlm", "load_mlm_tokenizer", "model_label", "base_model_folder"]

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
