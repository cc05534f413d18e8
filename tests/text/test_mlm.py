"""Chapter 10: masked-token perplexity, fixed masking, LoRA against full fine-tuning, contextual vectors."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from course_utils.exercises import CORRECT, INCORRECT, NOT_ATTEMPTED, ch10
from course_utils.profiles import chapter_settings
from course_utils.text import mlm

TOY_TEXTS = [
    "the patient with influenza was treated with oseltamivir in the clinic .",
    "blood culture grew staphylococcus aureus after two days in the laboratory .",
    "the kidney biopsy showed nephritis and the patient received steroids .",
    "remdesivir shortened recovery in adults admitted with pneumonia .",
] * 6


class FixedLogits(torch.nn.Module):
    """A stand-in model: returns the same logits whatever the input (for perplexity on a known case)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(logits, requires_grad=False)

    def forward(self, input_ids=None, attention_mask=None):  # noqa: ANN001, ANN201
        return SimpleNamespace(logits=self.logits[: input_ids.shape[0]])


def test_perplexity_is_exp_of_mean_nll_over_masked_tokens():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 7, generator=gen)
    labels = torch.full((2, 5), -100)
    labels[0, 1], labels[0, 3], labels[1, 4] = 2, 6, 0
    batch = {"input_ids": torch.zeros(2, 5, dtype=torch.long), "attention_mask": torch.ones(2, 5, dtype=torch.long),
             "labels": labels}
    result = mlm.masked_perplexity(FixedLogits(logits), [batch])
    probs = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(-1, keepdims=True)
    nll = [-np.log(probs[0, 1, 2]), -np.log(probs[0, 3, 6]), -np.log(probs[1, 4, 0])]
    assert result.n_masked == 3
    assert result.mean_nll == pytest.approx(np.mean(nll), rel=1e-6)
    assert result.perplexity == pytest.approx(math.exp(np.mean(nll)), rel=1e-6)
    # a uniform model has perplexity equal to the vocabulary size
    uniform = mlm.masked_perplexity(FixedLogits(torch.zeros(2, 5, 7)), [batch])
    assert uniform.perplexity == pytest.approx(7.0, rel=1e-6)


def test_masked_nll_ignores_unmasked_positions():
    logits = torch.randn(1, 4, 5)
    labels = torch.tensor([[-100, 3, -100, -100]])
    total, count = mlm.masked_nll(logits, labels)
    assert count == 1 and total == pytest.approx(float(-torch.log_softmax(logits[0, 1], -1)[3]), rel=1e-6)


@pytest.fixture(scope="module")
def toy_tokenizer():
    return mlm.train_wordpiece(TOY_TEXTS, vocab_size=200, max_length=32)


def test_wordpiece_tokenizer_and_chunking(toy_tokenizer):
    assert {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} <= set(toy_tokenizer.get_vocab())
    long_text = " ".join(TOY_TEXTS[:4])
    examples = mlm.encode_for_mlm(toy_tokenizer, [long_text], max_length=16)
    pieces = toy_tokenizer(long_text, add_special_tokens=False)["input_ids"]
    assert len(examples) == math.ceil(len(pieces) / 14)
    assert all(len(e["input_ids"]) <= 16 for e in examples)
    assert all(e["input_ids"][0] == toy_tokenizer.cls_token_id and e["input_ids"][-1] == toy_tokenizer.sep_token_id
               for e in examples)
    assert [i for e in examples for i in e["input_ids"][1:-1]] == pieces  # every piece kept, in order
    with pytest.raises(mlm.MlmError, match="too short"):
        mlm.encode_for_mlm(toy_tokenizer, [long_text], max_length=4)


def test_fixed_masking_is_reproducible_and_masks_only_ordinary_tokens(toy_tokenizer):
    examples = mlm.encode_for_mlm(toy_tokenizer, TOY_TEXTS, max_length=32)
    a = mlm.fixed_masked_batches(toy_tokenizer, examples, probability=0.3, batch_size=8, seed=5)
    b = mlm.fixed_masked_batches(toy_tokenizer, examples, probability=0.3, batch_size=8, seed=5)
    c = mlm.fixed_masked_batches(toy_tokenizer, examples, probability=0.3, batch_size=8, seed=6)
    assert all(torch.equal(x["input_ids"], y["input_ids"]) and torch.equal(x["labels"], y["labels"]) for x, y in zip(a, b))
    assert not all(torch.equal(x["labels"], y["labels"]) for x, y in zip(a, c))
    for batch in a:
        masked = batch["labels"] != -100
        assert bool((batch["input_ids"][masked] == toy_tokenizer.mask_token_id).all())  # evaluation: all [MASK]
        specials = torch.tensor([toy_tokenizer.cls_token_id, toy_tokenizer.sep_token_id, toy_tokenizer.pad_token_id])
        assert not bool(torch.isin(batch["labels"][masked], specials).any())
    share = sum(int((x["labels"] != -100).sum()) for x in a) / sum(len(e["input_ids"]) - 2 for e in examples)
    assert 0.2 < share < 0.4


def _tiny_model(tokenizer, tie=False):
    from transformers import BertForMaskedLM

    torch.manual_seed(0)
    return BertForMaskedLM(mlm.small_bert_config(len(tokenizer), hidden=32, layers=2, max_length=32,
                                                 pad_token_id=tokenizer.pad_token_id, tie=tie))


def test_trainable_parameters_counts_tied_weights_once(toy_tokenizer):
    tied, untied = _tiny_model(toy_tokenizer, tie=True), _tiny_model(toy_tokenizer)
    assert tied.cls.predictions.decoder.weight is tied.bert.embeddings.word_embeddings.weight
    assert untied.cls.predictions.decoder.weight is not untied.bert.embeddings.word_embeddings.weight
    n_tied, n_untied = mlm.trainable_parameters(tied)[1], mlm.trainable_parameters(untied)[1]
    # the output layer's own vocabulary x hidden weights (and, untied, its own bias vector too)
    assert len(toy_tokenizer) * 32 <= n_untied - n_tied <= len(toy_tokenizer) * 33
    tied.bert.requires_grad_(False)
    trainable, total = mlm.trainable_parameters(tied)
    assert total == n_tied and trainable == sum(p.numel() for n, p in tied.named_parameters() if n.startswith("cls."))


def test_lora_leaves_base_weights_unchanged_and_trains_only_adapters(toy_tokenizer):
    model = _tiny_model(toy_tokenizer)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    peft_model = mlm.add_lora(model, rank=2, targets=("query", "value"))
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    n_lora, n_total = mlm.trainable_parameters(peft_model)
    assert n_lora == 2 * 2 * (2 * 32 + 32 * 2)  # layers x (query, value) x (A + B)
    lora_b_before = {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_B" in n}
    examples = mlm.encode_for_mlm(toy_tokenizer, TOY_TEXTS, max_length=32)
    result = mlm.fine_tune(peft_model, toy_tokenizer, examples, method="lora", learning_rate=1e-2, max_steps=4,
                           batch_size=8, seed=3)
    assert result.steps == 4 and result.trainable == n_lora and result.tokens > 0
    after_b = dict(peft_model.named_parameters())
    assert any(not torch.equal(after_b[n], v) for n, v in lora_b_before.items())  # the adapters moved
    base = peft_model.unload()  # removes the adapters without merging them
    after = base.state_dict()
    assert set(after) == set(before)
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_full_fine_tuning_changes_the_weights_and_lowers_training_perplexity(toy_tokenizer):
    model = _tiny_model(toy_tokenizer)
    examples = mlm.encode_for_mlm(toy_tokenizer, TOY_TEXTS, max_length=32)
    batches = mlm.fixed_masked_batches(toy_tokenizer, examples, probability=0.3, seed=1)
    start = mlm.masked_perplexity(model, batches).perplexity
    mlm.fine_tune(model, toy_tokenizer, examples, method="full", learning_rate=3e-3, max_steps=30, batch_size=8, seed=1)
    assert mlm.masked_perplexity(model, batches).perplexity < 0.5 * start
    with pytest.raises(mlm.MlmError, match="frozen"):
        frozen = _tiny_model(toy_tokenizer).requires_grad_(False)
        mlm.fine_tune(frozen, toy_tokenizer, examples, method="full", learning_rate=1e-3, max_steps=1)


def test_lora_recovers_at_least_half_of_full_fine_tunings_gain():
    """The chapter's smoke experiment, on the cached small BERT (built once, shared with the notebook)."""
    settings = chapter_settings(10, "smoke")
    table, details = mlm.compare_adaptation(settings)
    before, after = details["before"].perplexity, details["after"]
    assert details["before_source"].perplexity < before  # the shift is real: the base model finds domain 1 harder
    assert after["full"].perplexity < before and after["lora"].perplexity < before
    recovery = mlm.lora_recovery(before, after["lora"].perplexity, after["full"].perplexity)
    assert recovery >= 0.5, table
    lora_row = table[table["method"].str.startswith("LoRA")].iloc[0]
    assert 0 < lora_row["trainable %"] < 10
    with pytest.raises(mlm.MlmError, match="did not lower"):
        mlm.lora_recovery(10.0, 9.0, 11.0)


def test_recovery_formula():
    assert mlm.lora_recovery(100.0, 70.0, 40.0) == pytest.approx(0.5)


def test_within_across_on_known_vectors():
    vectors = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    within, across = mlm.within_across(vectors, ["a", "a", "b", "b"])
    assert within == pytest.approx(1.0) and across == pytest.approx(0.0)
    with pytest.raises(mlm.MlmError):
        mlm.within_across(vectors, ["a", "b", "c", "d"])


def test_every_word_has_a_dozen_sentences_in_two_senses():
    for word, senses in mlm.SENSE_SENTENCES.items():
        assert len(senses) == 2 and sum(len(s) for s in senses.values()) == 12, word
        assert all(word in sentence.lower() for group in senses.values() for sentence in group), word


@pytest.fixture(scope="module")
def minilm():
    from course_utils.text.pretrained import load_encoder

    return load_encoder("minilm", device="cpu")


def test_contextual_vectors_separate_senses_with_minilm(minilm):
    tokenizer, model = minilm
    table = mlm.sense_table(tokenizer, model)
    assert list(table.index) == ["cold", "culture", "positive", "discharge"]
    assert (table["cosine within a sense"] > table["cosine across senses"]).all(), table
    # the vector is the mean of the word's pieces: a one-sentence check against a direct computation
    sentence = "Discharge planning should start at admission."
    vec = mlm.contextual_word_vectors([sentence], "discharge", tokenizer=tokenizer, model=model)
    enc = tokenizer(sentence, return_tensors="pt", return_offsets_mapping=True)
    offsets = enc.pop("offset_mapping")[0]
    with torch.no_grad():
        states = model(**enc).last_hidden_state[0]
    inside = (offsets[:, 1] > offsets[:, 0]) & (offsets[:, 1] <= len("Discharge"))
    assert np.allclose(vec[0], states[inside].mean(0).numpy(), atol=1e-5)
    with pytest.raises(mlm.WordNotInSentenceError, match="Sentence 1"):
        mlm.contextual_word_vectors(["a cold day", "a warm day"], "cold", tokenizer=tokenizer, model=model)


def test_launch_commands_name_the_launchers():
    commands = mlm.launch_commands(4)
    assert "torchrun --standalone --nproc_per_node 4 -m course_utils.text.mlm train --method lora" in commands["torchrun"]
    assert "accelerate launch --multi_gpu --num_processes 4 -m course_utils.text.mlm train" in commands["accelerate"]
    with pytest.raises(SystemExit):
        mlm.main(["train", "--help"])


def test_train_command_reports_a_course_error_in_one_line_with_status_2(tmp_path, capsys):
    """The command runs on course_utils.commands.run_command: bad input is one line on stderr, status 2."""
    out = tmp_path / "adapted"
    status = mlm.main(["train", "--text", str(tmp_path / "missing.txt"), "--output", str(out),
                       "--model", str(tmp_path), "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert err[0].startswith("error: No text file at") and "missing.txt" in err[0]
    assert not out.exists()  # nothing half-written
    with pytest.raises(SystemExit) as usage:  # argparse's own errors keep status 2 too
        mlm.main(["train", "--output", str(out), "--batch-size", "0"])
    assert usage.value.code == 2


def test_training_honours_the_cpu_on_a_machine_with_a_gpu(toy_tokenizer, tmp_path, monkeypatch):
    """Review item 4: Trainer moves the model to CUDA whenever CUDA exists unless use_cpu is set."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    args = mlm.training_arguments(tmp_path, device=torch.device("cpu"), learning_rate=1e-3, epochs=1, batch_size=4,
                                  seed=0)
    assert args.use_cpu and not args.bf16
    assert args.device.type == "cpu"
    monkeypatch.undo()
    monkeypatch.setenv("COURSE_DEVICE", "cpu")  # fine_tune's default device honours COURSE_DEVICE
    model = _tiny_model(toy_tokenizer)
    result = mlm.fine_tune(model, toy_tokenizer, mlm.encode_for_mlm(toy_tokenizer, TOY_TEXTS, 32), method="full",
                           learning_rate=1e-3, max_steps=1, batch_size=4)
    assert result.device == "cpu" and next(model.parameters()).device.type == "cpu"


def _vocab_only_folder(folder, tokenizer):
    """A folder laid out like BiomedBERT's hub repository: config.json, vocab.txt, pytorch_model.bin only."""
    model = _tiny_model(tokenizer)
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # transformers 5 saves only safetensors itself
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    (folder / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocab))
    return model


def test_load_mlm_from_a_folder_with_only_vocab_txt(toy_tokenizer, tmp_path):
    from transformers import BertForMaskedLM, BertTokenizerFast

    folder = tmp_path / "biomedbert"
    folder.mkdir()
    original = _vocab_only_folder(folder, toy_tokenizer)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "pytorch_model.bin", "vocab.txt"]
    tokenizer, model = mlm.load_mlm(folder, "cpu")
    assert isinstance(tokenizer, BertTokenizerFast) and isinstance(model, BertForMaskedLM)
    text = "The Patient with INFLUENZA was treated ."
    assert tokenizer.tokenize(text) == toy_tokenizer.tokenize(text.lower())  # uncased, the same WordPieces
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == tokenizer.cls_token_id == toy_tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert tokenizer.mask_token_id == toy_tokenizer.mask_token_id and tokenizer.model_max_length == 32
    state = original.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert mlm.model_label(folder, model) == "biomedbert"
    (folder / "vocab.txt").unlink()
    with pytest.raises(mlm.MlmError, match="holds no tokenizer"):
        mlm.load_mlm_tokenizer(folder)


def test_lab_base_model_comes_from_the_biomedbert_manifest_folder(toy_tokenizer, tmp_path, monkeypatch):
    from course_utils.data.store import stage
    from course_utils.errors import DataMissingError

    data = tmp_path / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(data))
    lab = chapter_settings(10, "lab")
    assert lab.model == "biomedbert" and lab.corpus == "cord19"
    with pytest.raises(DataMissingError, match="python -m course_utils.data fetch biomedbert"):
        mlm.base_model_folder(lab)
    files = tmp_path / "admin-copy"
    files.mkdir()
    _vocab_only_folder(files, toy_tokenizer)
    stage("biomedbert", files, show_progress=False)  # what a lab administrator (or the rehearsal) does
    assert mlm.base_model_folder(lab) == data / "biomedbert"
    tokenizer, _ = mlm.load_mlm(mlm.base_model_folder(lab), "cpu")
    assert tokenizer.tokenize("Influenza") == ["influenza"]


def test_lora_on_dense_also_adapts_the_mlm_heads_transform(toy_tokenizer):
    model = mlm.add_lora(_tiny_model(toy_tokenizer), 2, targets=("query", "key", "value", "dense"))
    names = mlm.lora_modules(model)
    assert "cls.predictions.transform.dense" in names
    assert len(names) == 2 * 6 + 1  # per layer: query, key, value, attention output, intermediate, output; + head
    head = 2 * (32 + 32)  # rank x (in + out) of the head's 32 x 32 transform
    assert mlm.trainable_parameters(model)[0] == 2 * (4 * 2 * 64 + 2 * (32 + 128) + 2 * (128 + 32)) + head
    table = mlm.lora_parameter_table(model)
    assert list(table.index) == names
    assert table.loc["cls.predictions.transform.dense", "trainable"] == head
    assert (table["trainable"] == table["rank"] * (table["in"] + table["out"])).all()
    assert int(table["trainable"].sum()) == mlm.trainable_parameters(model)[0]
    with pytest.raises(mlm.MlmError, match="no LoRA adapter"):
        mlm.lora_parameter_table(_tiny_model(toy_tokenizer))


def test_without_old_domain_text_there_is_no_forgetting_column(toy_tokenizer, tmp_path):
    """Lab/full have no text of the base model's own domain: the table must not pretend to measure forgetting."""
    folder = tmp_path / "base"
    _tiny_model(toy_tokenizer).save_pretrained(folder)
    toy_tokenizer.save_pretrained(folder)
    import dataclasses

    settings = chapter_settings(10, "smoke")
    settings = dataclasses.replace(settings, epochs=1.0, batch_size=8, max_length=32, lora_targets=("query", "value"))
    table, details = mlm.compare_adaptation(settings, source=folder, texts=(TOY_TEXTS[:16], TOY_TEXTS[16:], None),
                                            device="cpu")
    assert mlm.SOURCE_COLUMN not in table.columns and details["before_source"] is None
    assert list(table.index) == ["base", "base + LoRA r=4", "base + full fine-tuning"]
    table, details = mlm.compare_adaptation(settings, source=folder, device="cpu",
                                            texts=(TOY_TEXTS[:16], TOY_TEXTS[16:], TOY_TEXTS[:4]))
    assert mlm.SOURCE_COLUMN in table.columns and details["before_source"].n_masked > 0


def test_quiet_training_restores_the_log_level():
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    with mlm.quiet_training():
        assert hf_logging.get_verbosity() == hf_logging.ERROR
    assert hf_logging.get_verbosity() == level


def untouched(*args):
    ...


@pytest.mark.parametrize(("checker", "solution"), [
    (ch10.check_perplexity, ch10.perplexity_solution),
    (ch10.check_lora_count, ch10.lora_count_solution),
    (ch10.check_within_across, ch10.within_across_solution),
])
def test_solution_passes_and_untouched_cell_is_not_attempted(checker, solution):
    assert checker(solution).status == CORRECT
    assert checker(untouched).status == NOT_ATTEMPTED


def _nll(logits, labels):
    return -torch.log_softmax(logits.double(), -1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)


PERPLEXITY_SLIPS = {
    "no exp": (lambda lo, la: math.log(ch10.perplexity_solution(lo, la)), "exponential"),
    "mean of exp": (lambda lo, la: float(torch.exp(_nll(lo, la)[la != -100]).mean()), "mean of exp"),
    "per row first": (lambda lo, la: float(torch.exp(torch.stack([_nll(lo, la)[r][la[r] != -100].mean()
                                                                  for r in range(len(la))]).mean())), "every masked token"),
    "all positions": (lambda lo, la: float(torch.exp(_nll(lo, la).mean())), "-100"),
    "raises": (lambda lo, la: lo.foo, "raised"),
}


@pytest.mark.parametrize("slip", list(PERPLEXITY_SLIPS))
def test_perplexity_slips_get_specific_feedback(slip):
    fn, phrase = PERPLEXITY_SLIPS[slip]
    feedback = ch10.check_perplexity(fn)
    assert feedback.status == INCORRECT and phrase in feedback.message, feedback


@pytest.mark.parametrize(("fn", "phrase"), [
    (lambda d, n, r: n * 2 * r * d, "two matrices"),
    (lambda d, n, r: n * 2 * d * d, "frozen weights"),
    (lambda d, n, r: 2 * (2 * r * d), "every layer"),
])
def test_lora_count_slips(fn, phrase):
    feedback = ch10.check_lora_count(fn)
    assert feedback.status == INCORRECT and phrase in feedback.message, feedback


def test_within_across_slips():
    def with_self(v, labels):
        unit = v / np.linalg.norm(v, axis=1, keepdims=True)
        sims, lab = unit @ unit.T, np.asarray(labels)
        same = lab[:, None] == lab[None, :]
        return sims[same].mean(), sims[~same].mean()

    def dots(v, labels):
        lab = np.asarray(labels)
        same = (lab[:, None] == lab[None, :]) & ~np.eye(len(lab), dtype=bool)
        return (v @ v.T)[same].mean(), (v @ v.T)[lab[:, None] != lab[None, :]].mean()

    assert "with itself" in ch10.check_within_across(with_self).message
    assert "dot product" in ch10.check_within_across(dots).message


# --- several processes: the training command under torchrun (gloo on CPU) ------------------------------------------

_ONE_STEP = r"""
import os, sys
import torch
from transformers import BertForMaskedLM
from course_utils.text import mlm

folder, out, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
tokenizer = mlm.load_mlm_tokenizer(folder)
torch.manual_seed(0)
config = mlm.small_bert_config(len(tokenizer), hidden=32, layers=2, max_length=32, pad_token_id=tokenizer.pad_token_id)
config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0  # no dropout: the step is deterministic
model = BertForMaskedLM(config)
torch.save({k: v.clone() for k, v in model.state_dict().items()}, out + ".init")
# 8 sequences masked in advance, 3 masked tokens each: every process's mean loss has the same denominator
g = torch.Generator().manual_seed(1)
examples = []
for _ in range(8):
    ids = [tokenizer.cls_token_id] + torch.randint(5, len(tokenizer), (10,), generator=g).tolist() + [tokenizer.sep_token_id]
    inputs, labels = list(ids), [-100] * len(ids)
    for p in (torch.randperm(10, generator=g)[:3] + 1).tolist():
        labels[p], inputs[p] = ids[p], tokenizer.mask_token_id
    examples.append({"input_ids": inputs, "attention_mask": [1] * len(ids), "labels": labels})
collate = lambda items: {k: torch.tensor([item[k] for item in items]) for k in items[0]}
result = mlm.fine_tune(model, tokenizer, examples, method="full", learning_rate=0.5, max_steps=1, batch_size=batch,
                       seed=3, device="cpu", collator=collate, optim="sgd")
assert result.steps == 1 and result.device == "cpu"
if int(os.environ.get("RANK", "0")) == 0:
    torch.save(model.state_dict(), out)
"""


def _torchrun(n: int, args: list[str], tmp_path, timeout: int = 240):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COURSE_PROFILE": "smoke",
           "COURSE_DEVICE": "cpu", "COURSE_WORK_DIR": str(tmp_path / "work"), "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_train_command_completes_under_torchrun_on_two_cpu_processes(toy_tokenizer, tmp_path):
    import json

    from transformers import AutoModelForMaskedLM

    base = tmp_path / "base"
    _tiny_model(toy_tokenizer).save_pretrained(base)
    toy_tokenizer.save_pretrained(base)
    text = tmp_path / "abstracts.txt"
    text.write_text("\n".join(TOY_TEXTS) + "\n")
    out = tmp_path / "adapted"
    done = _torchrun(2, ["-m", "course_utils.text.mlm", "train", "--text", str(text), "--output", str(out),
                         "--model", str(base), "--method", "lora", "--max-steps", "2", "--batch-size", "4",
                         "--max-length", "32", "--device", "cpu"], tmp_path)
    record = json.loads((out / "training.json").read_text())
    assert record["processes"] == 2 and record["device"] == "cpu" and record["steps"] == 2
    assert math.isfinite(record["perplexity_before"]) and math.isfinite(record["perplexity_after"])
    assert done.stdout.count("held-out perplexity") == 1  # only rank 0 reports
    merged = AutoModelForMaskedLM.from_pretrained(out)  # LoRA merged: a plain BERT again
    assert not any("lora" in name for name, _ in merged.named_parameters())


def test_one_step_on_two_processes_equals_one_step_with_the_double_batch(toy_tokenizer, tmp_path, monkeypatch):
    """Data parallelism = gradient averaging: 2 processes x batch 4 take the same step as 1 process x batch 8."""
    folder = tmp_path / "tok"
    toy_tokenizer.save_pretrained(folder)
    script = tmp_path / "one_step.py"
    script.write_text(_ONE_STEP)
    two, one = str(tmp_path / "two.pt"), str(tmp_path / "one.pt")
    _torchrun(2, [str(script), str(folder), two, "4"], tmp_path)
    import runpy
    import sys

    monkeypatch.setattr(sys, "argv", [str(script), str(folder), one, "8"])  # one process: here, no launcher
    runpy.run_path(str(script), run_name="__main__")
    a, b, start = torch.load(two), torch.load(one), torch.load(one + ".init")
    assert set(a) == set(b)
    moved = max(float((b[k] - start[k]).abs().max()) for k in b)
    assert moved > 1e-3  # the step changed the weights
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6, msg=lambda m, k=k: f"{k}: {m}")
