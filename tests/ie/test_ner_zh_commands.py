"""Chapter 12 commands: bad input (one table), one recipe for command and benchmark, the bootstrap interval."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from course_utils.ie.ner.synthetic import synthetic_documents, write_synthetic_folder
from course_utils.ie.ner.tagger import (
    RECIPES,
    bootstrap_micro_f1,
    build_model,
    main,
    recipe_from_args,
    save_model,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--epochs", "1", "--max-length", "32", "--lstm-hidden", "4", "--embedding-dim", "8", "--quiet",
        "--device", "cpu"]


def _gold(tmp: Path) -> Path:
    return write_synthetic_folder(tmp / "gold", synthetic_documents(3, seed=6))


def _copy(tmp: Path, name: str) -> Path:
    gold, out = _gold(tmp), tmp / name
    out.mkdir()
    for path in gold.iterdir():
        (out / path.name).write_bytes(path.read_bytes())
    return out


def _first_ann(folder: Path) -> Path:
    return sorted(folder.glob("*.ann"))[0]


def _append(path: Path, line: str) -> Path:
    path.write_text(path.read_text(encoding="utf-8") + line, encoding="utf-8")
    return path


def malformed_train(tmp: Path) -> list[str]:
    bad = _copy(tmp, "bad")
    _append(_first_ann(bad), "T99\tDrug x y\tbroken\n")
    return ["train", "--data", str(bad), "--out", str(tmp / "model"), *TINY]


def offsets_train(tmp: Path) -> list[str]:
    bad = _copy(tmp, "bad")
    _append(_first_ann(bad), "T98\tDrug 100000 100004\tabcd\n")
    return ["train", "--data", str(bad), "--out", str(tmp / "model"), *TINY]


def missing_ann_train(tmp: Path) -> list[str]:
    bad = _copy(tmp, "bad")
    (bad / "extra.txt").write_text("没有标注。", encoding="utf-8")
    return ["train", "--data", str(bad), "--out", str(tmp / "model"), *TINY]


def empty_train(tmp: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return ["train", "--data", str(tmp / "empty"), "--out", str(tmp / "model"), *TINY]


def unannotated_train(tmp: Path) -> list[str]:
    folder = tmp / "plain"
    folder.mkdir()
    for k in range(3):
        (folder / f"{k}.txt").write_text("患者无不适。", encoding="utf-8")
        (folder / f"{k}.ann").write_text("", encoding="utf-8")
    return ["train", "--data", str(folder), "--out", str(tmp / "model"), *TINY]


def no_val_train(tmp: Path) -> list[str]:
    gold = _gold(tmp)
    ids = sorted(p.stem for p in gold.glob("*.txt"))
    split = tmp / "split.json"
    split.write_text(json.dumps({"train": ids, "val": [], "test": []}), encoding="utf-8")
    return ["train", "--data", str(gold), "--out", str(tmp / "model"), "--split", str(split), *TINY]


def unknown_split_ids(tmp: Path) -> list[str]:
    gold = _gold(tmp)
    split = tmp / "split.json"
    split.write_text(json.dumps({"train": ["nope"], "val": ["nope2"], "test": []}), encoding="utf-8")
    return ["train", "--data", str(gold), "--out", str(tmp / "model"), "--split", str(split), *TINY]


def out_is_not_a_model(tmp: Path) -> list[str]:
    (tmp / "model").mkdir()
    (tmp / "model" / "notes.txt").write_text("mine", encoding="utf-8")
    return ["train", "--data", str(_gold(tmp)), "--out", str(tmp / "model"), *TINY]


def missing_pred(tmp: Path) -> list[str]:
    return ["score", "--gold", str(_gold(tmp)), "--pred", str(tmp / "typo")]


def empty_pred(tmp: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return ["score", "--gold", str(_gold(tmp)), "--pred", str(tmp / "empty")]


def malformed_pred(tmp: Path) -> list[str]:
    gold = _gold(tmp)
    pred = _copy(tmp, "pred")
    _append(_first_ann(pred), "T77 Drug no tabs\n")
    return ["score", "--gold", str(gold), "--pred", str(pred)]


def bad_gold(tmp: Path) -> list[str]:
    bad = _copy(tmp, "bad")
    _append(_first_ann(bad), "T99\tDrug x y\tbroken\n")
    return ["score", "--gold", str(bad), "--pred", str(bad)]


def unannotated_gold(tmp: Path) -> list[str]:
    args = unannotated_train(tmp)
    return ["score", "--gold", args[2], "--pred", args[2]]


def corrupt_config(tmp: Path) -> list[str]:
    model, vocab, meta = build_model("char", None, texts=["患者无不适。"], max_length=16, lstm_hidden=4,
                                     embedding_dim=4)
    save_model(tmp / "model", model, vocab, meta)
    (tmp / "model" / "config.json").write_text("{not json", encoding="utf-8")
    gold = _gold(tmp)
    return ["predict", "--model", str(tmp / "model"), "--input", str(gold), "--output", str(tmp / "pred")]


def no_model(tmp: Path) -> list[str]:
    return ["predict", "--model", str(tmp / "nomodel"), "--input", str(_gold(tmp)), "--output", str(tmp / "pred")]


def missing_input(tmp: Path) -> list[str]:
    model, vocab, meta = build_model("char", None, texts=["患者无不适。"], max_length=16, lstm_hidden=4,
                                     embedding_dim=4)
    save_model(tmp / "model", model, vocab, meta)
    return ["predict", "--model", str(tmp / "model"), "--input", str(tmp / "nothere"), "--output",
            str(tmp / "pred")]


#: input, expected message fragment(s), exit status; every case must leave no output behind
CASES: list[tuple[str, Callable[[Path], list[str]], tuple[str, ...], int]] = [
    ("train: malformed .ann line", malformed_train, ("1 malformed", ".ann:", "--allow-problems"), 2),
    ("train: offsets past the text", offsets_train, ("1 offsets", ".ann:", "Fix the files"), 2),
    ("train: .txt without .ann", missing_ann_train, ("1 missing-ann", "extra.ann"), 2),
    ("train: empty folder", empty_train, ("holds no .txt files",), 2),
    ("train: no entity anywhere", unannotated_train, ("annotates an entity", "nothing to learn"), 2),
    ("train: empty validation list", no_val_train, ("no validation document",), 2),
    ("train: split ids not in the folder", unknown_split_ids, ("not in", "split file"), 2),
    ("train: --out holds other files", out_is_not_a_model, ("not a model folder", "--out"), 2),
    ("score: prediction folder missing", missing_pred, ("is not a folder",), 2),
    ("score: prediction folder empty", empty_pred, ("no .ann file for any",), 2),
    ("score: malformed prediction line", malformed_pred, (".ann:", "malformed", "--allow-problems"), 2),
    ("score: gold folder with problems", bad_gold, ("gold folder", "1 malformed"), 2),
    ("score: gold without entities", unannotated_gold, ("nothing to score",), 2),
    ("predict: corrupt config.json", corrupt_config, ("damaged", "train the model again"), 2),
    ("predict: no model folder", no_model, ("has no model.pt",), 2),
    ("predict: input folder missing", missing_input, ("does not exist",), 2),
]


@pytest.mark.parametrize("label, make, fragments, status", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_where_and_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                            label: str, make: Callable[[Path], list[str]],
                                                            fragments: tuple[str, ...], status: int) -> None:
    argv = make(tmp_path)
    before = {p for p in tmp_path.rglob("*")}
    assert main(argv) == status, label
    err = capsys.readouterr().err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, err
    for fragment in fragments:
        assert fragment in err, (label, fragment, err)
    after = {p for p in tmp_path.rglob("*")}
    assert after == before, f"{label}: left {sorted(map(str, after - before))}"  # nothing half-written


def test_allow_problems_trains_and_scores_what_can_be_read(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = malformed_pred(tmp_path)
    assert main([*args, "--allow-problems"]) == 0
    assert "1 prediction lines could not be read" in capsys.readouterr().err


def _benchmark():
    bench = ROOT / "benchmarks"
    spec = importlib.util.spec_from_file_location("ruijin_bench", bench / "ch12_ruijin.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(bench))  # the benchmarks share benchmarks/common.py, as when run as scripts
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.remove(str(bench))
    return module


@pytest.mark.parametrize("extra", [[], ["--lstm-hidden", "256"], ["--lr", "0.004", "--dropout", "0.35"],
                                   ["--rare-types", "Drug,Level", "--rare-oversample", "3", "--no-lstm"]])
@pytest.mark.parametrize("name", ["ruijin-run6", "ruijin-run7", "ruijin-run2", "default"])
def test_command_and_benchmark_build_the_same_recipe(name: str, extra: list[str]) -> None:
    """The train command and the benchmark read the same options into the same recipe, hence the same model
    options and TrainConfig (both then train it through train_recipe)."""
    from course_utils.commands import build_parser
    from course_utils.ie.ner.tagger import VERBS

    command = build_parser("ner_zh", "", VERBS).parse_args(["train", "--data", "d", "--out", "o", "--recipe", name,
                                                            *extra])
    bench = _benchmark().build_parser().parse_args(["--recipe", name, *extra])
    (cname, crecipe), (bname, brecipe) = recipe_from_args(command), recipe_from_args(bench)
    assert (cname, crecipe) == (bname, brecipe)
    assert crecipe.model_options() == brecipe.model_options()
    assert crecipe.train_config(7) == brecipe.train_config(7)
    if not extra:
        assert crecipe == RECIPES[name]


def test_the_ruijin_recipes_are_the_results_page_commands() -> None:
    """Runs 6 and 7 as the results page states their options (benchmark defaults of that time plus flags)."""
    run6, run7 = RECIPES["ruijin-run6"], RECIPES["ruijin-run7"]
    for run, hidden in ((run6, 192), (run7, 256)):
        assert (run.lstm_hidden, run.batch_size, run.lr_encoder, run.lr_head, run.patience) == (hidden, 128, 5e-3,
                                                                                               5e-3, 4)
        assert (run.bigram_min_count, run.dropout, run.pretrain_epochs, run.ema_decay) == (2, 0.4, 5, 0.998)
        assert (run.embedding_dim, run.max_length, run.epochs, run.max_minutes) == (100, 128, 30, 24.0)
        assert len(run.rare_types) == 6 and run.rare_oversample == 2
    bench = _benchmark().build_parser().parse_args([])
    assert bench.recipe == "ruijin-run7"  # chosen on validation among runs 5-7 (record ch12.ruijin_selection)


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_documents() -> None:
    rng = np.random.default_rng(0)

    def counts(n: int) -> list[np.ndarray]:
        return [np.stack([rng.integers(40, 60, n), rng.integers(5, 25, n), rng.integers(5, 25, n)], axis=1)
                for _ in range(3)]

    small, large = counts(10), counts(200)
    mean, low, high = bootstrap_micro_f1(small, replicates=500)
    pooled = [c.sum(axis=0) for c in small]
    assert mean == pytest.approx(np.mean([2 * tp / (2 * tp + fp + fn) for tp, fp, fn in pooled]))
    assert low < mean < high
    _, low2, high2 = bootstrap_micro_f1(large, replicates=500)
    assert high2 - low2 < high - low
    # every document perfect: no spread at all
    perfect = [np.array([[5, 0, 0], [3, 0, 0]])] * 3
    assert bootstrap_micro_f1(perfect, replicates=50) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("profile", ["smoke", "lab", "full"])
def test_the_notebooks_model_is_a_recipe_of_its_profile(profile: str) -> None:
    """notebook_recipe gives the model options and TrainConfig the notebook trained with before recipes existed."""
    from course_utils.ie.ner.tagger import TrainConfig, notebook_recipe
    from course_utils.profiles import chapter_settings

    s = chapter_settings(12, profile)
    r = notebook_recipe(s)
    assert r.encoder == s.model
    assert r.model_options() == dict(max_length=s.max_length, lstm_hidden=s.lstm_hidden,
                                     embedding_dim=s.embedding_dim, use_lstm=True, dropout=0.2,
                                     bigram_min_count=None, bigram_dim=50)
    assert r.train_config(s.seed) == TrainConfig(epochs=s.epochs, batch_size=s.batch_size, lr_encoder=s.lr_encoder,
                                                 lr_head=s.lr_head, patience=s.patience, seed=s.seed,
                                                 rare_types=("Frequency", "SideEff", "Treatment", "Duration"),
                                                 rare_oversample=2)
