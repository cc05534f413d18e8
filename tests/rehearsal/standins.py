"""Tiny random stand-ins for the hub models of the lab and full profiles (lab-path rehearsal, chapters 7-14).

Each stand-in keeps what the course's code depends on and nothing of the real model's size:

======================  ===================  ==================  ==========================================
manifest                architecture         tokenizer           vocabulary, files
======================  ===================  ==================  ==========================================
``bert_base_uncased``   BertForMaskedLM      BertTokenizerFast   bert-base-uncased's own 30,522-piece vocab
                                                                 (byte-identical to the installed MiniLM's);
                                                                 config, vocab, tokenizer.json,
                                                                 tokenizer_config, model.safetensors
``biomedbert``          BertForMaskedLM      BertTokenizerFast   the same uncased vocabulary; config, vocab,
                                             (built from vocab)  pytorch_model.bin (no tokenizer files, as in
                                                                 the real repository)
``sapbert``             BertModel            BertTokenizerFast   uncased; config, vocab, tokenizer_config,
                                                                 special_tokens_map, pytorch_model.bin
``bert_base_chinese``   BertForMaskedLM      BertTokenizerFast   a character WordPiece vocabulary laid out as
                                             (not lower-cased)   bert-base-chinese's ([PAD], [unused1-99],
                                                                 [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103,
                                                                 then characters: ASCII, CJK punctuation,
                                                                 every CJK unified ideograph)
======================  ===================  ==================  ==========================================

All are 2 layers x 32 hidden units, 2 heads, 64 intermediate, 512 positions, randomly initialised with a fixed
seed: a rehearsal checks that the code path runs and what its claims say, not what a real model learns. Pooling
is the course's business ([CLS] for SapBERT, mean for the others), chosen by the model's name as for the real
models. Each folder holds exactly the files its manifest lists, so the course verifies and loads it the way it
does the real model. ``tokenizer_config.json`` is written as the real repositories have it (two keys), which for
bert-base-uncased makes it, like its ``vocab.txt``, byte-identical to the pinned file: those two keep their pins
in the rehearsal's manifests and are verified against them.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["STANDIN_MODELS", "build_standin", "build_standins", "chinese_vocabulary", "stage_standins",
           "uncased_vocabulary"]

STANDIN_MODELS = ("bert_base_uncased", "biomedbert", "sapbert", "bert_base_chinese")

_TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
         "max_position_embeddings": 512, "type_vocab_size": 2}
_SPECIAL = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
            "mask_token": "[MASK]"}


def uncased_vocabulary() -> list[str]:
    """Return bert-base-uncased's WordPiece vocabulary, read from the installed MiniLM (the same 30,522 pieces)."""
    from course_utils.text.pretrained import minilm_folder

    return (minilm_folder() / "vocab.txt").read_text(encoding="utf-8").splitlines()


def chinese_vocabulary() -> list[str]:
    """Return a character vocabulary laid out as bert-base-chinese's: the same special tokens at the same ids,
    then single characters (ASCII, CJK punctuation and full-width forms, all CJK unified ideographs) and the
    continuation pieces of ASCII letters and digits."""
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>", "<T>"]
    ascii_chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    punctuation = [chr(c) for c in range(0x3000, 0x3040)] + [chr(c) for c in range(0xFF01, 0xFF5F)]
    punctuation += list("·—‘’“”…‰′″※℃№→←↑↓①②③④⑤⑥⑦⑧⑨⑩±×÷≤≥≠≈∶αβγδμ")
    ideographs = [chr(c) for c in range(0x4E00, 0xA000)]
    continuation = [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    seen: set[str] = set()
    out = []
    for token in vocab + ascii_chars + punctuation + ideographs + continuation:
        if token not in seen and token.strip():
            seen.add(token)
            out.append(token)
    return out


def _write_vocab(folder: Path, vocab: list[str]) -> Path:
    path = folder / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return path


def _bert(vocab_size: int, *, masked_lm: bool, seed: int):
    import torch
    from transformers import BertConfig, BertForPreTraining, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, pad_token_id=0, **_TINY)
    # The real checkpoints of the masked-language models carry the pre-training heads and the pooler beside the
    # encoder (BertForPreTraining's weights); SapBERT's is a BertModel's.
    model = BertForPreTraining(config) if masked_lm else BertModel(config)
    model.eval()
    return model


def build_standin(name: str, folder: str | Path, *, seed: int = 0) -> Path:
    """Write the stand-in of model manifest ``name`` into ``folder`` (created) and return it.

    The folder then holds exactly the files of ``data_manifests/NAME.yaml``; the weights are saved as
    ``model.safetensors`` or ``pytorch_model.bin``, whichever the manifest lists.
    """
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if name not in STANDIN_MODELS:
        raise ValueError(f"no stand-in for {name!r}; known: {', '.join(STANDIN_MODELS)}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    chinese = name == "bert_base_chinese"
    vocab = chinese_vocabulary() if chinese else uncased_vocabulary()
    build = out / ".build"
    build.mkdir(exist_ok=True)
    vocab_file = _write_vocab(build, vocab)
    model = _bert(len(vocab), masked_lm=name != "sapbert", seed=seed)
    files = _manifest_files(name)
    safetensors = "model.safetensors" in files
    model.save_pretrained(build)  # transformers 5 writes model.safetensors only
    if not safetensors:  # the real repository's format: a pickled state dict, as transformers 4 saved it
        import torch

        torch.save(model.state_dict(), build / "pytorch_model.bin")
    config = json.loads((build / "config.json").read_text())
    config["architectures"] = ["BertModel" if name == "sapbert" else "BertForMaskedLM"]
    config.pop("torch_dtype", None)
    config.pop("dtype", None)
    (build / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    # The fast tokenizer transformers builds from config.json + vocab.txt (as for the real BiomedBERT), saved as
    # tokenizer.json where the manifest lists one.
    tokenizer = AutoTokenizer.from_pretrained(str(build), do_lower_case=not chinese, model_max_length=512)
    tokenizer.save_pretrained(build / "tok")
    staged = {
        "config.json": build / "config.json",
        "vocab.txt": vocab_file,
        "tokenizer.json": build / "tok" / "tokenizer.json",
        "model.safetensors": build / "model.safetensors",
        "pytorch_model.bin": build / "pytorch_model.bin",
    }
    # As the real repositories have them: a two-key tokenizer_config.json, the standard special-token map.
    (build / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": not chinese, "model_max_length": 512}))
    staged["tokenizer_config.json"] = build / "tokenizer_config.json"
    (build / "special_tokens_map.json").write_text(json.dumps(_SPECIAL))
    staged["special_tokens_map.json"] = build / "special_tokens_map.json"
    for filename in files:
        if filename not in staged or not staged[filename].is_file():
            raise FileNotFoundError(f"stand-in {name}: nothing built for the manifest's file {filename}")
        (out / filename).write_bytes(staged[filename].read_bytes())
    import shutil

    shutil.rmtree(build)
    return out


def _manifest_files(name: str) -> list[str]:
    from course_utils.data import load_manifest

    return [spec.filename for spec in load_manifest(name).files]


def build_standins(scratch: Path, names: tuple[str, ...] = STANDIN_MODELS) -> dict[str, Path]:
    """Build the stand-ins of ``names`` under ``scratch``; return ``{name: folder}``."""
    return {name: build_standin(name, scratch / name) for name in names}


def stage_standins(root: Path, built: dict[str, Path], manifests: Path) -> list[Path]:
    """Stage each built stand-in into the data folder ``root`` with the course's own ``course_utils.data.stage``,
    against the rehearsal's manifests (``manifests``, see ``rehearsal.datasets.rehearsal_manifests``); return
    their folders."""
    from course_utils.data import load_manifest, stage

    return [stage(name, source, root=root, manifest=load_manifest(name, manifests), show_progress=False)
            for name, source in built.items()]
