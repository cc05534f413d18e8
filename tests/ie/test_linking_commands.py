"""The linking command (chapter 14): every verb's bad input is one clear line with exit status 2 and nothing
half-written; `train` runs; `link --recipe` builds the linker the benchmarks build."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.ie.linking import linkers as L
from course_utils.ie.linking.data import Vocabulary, read_ncbi_disease, task_from_mentions

DICT = "D001943\tBreast Neoplasms\nD051437\tKidney Failure\nD003327\tcoronary heart disease\nC000001\tCHD syndrome\n"
PUBTATOR = ("7|t|Coronary heart disease (CHD) and kidney failure.\n7|a|CHD was common (OMIM 114480).\n"
            "7\t0\t22\tCoronary heart disease\tDisease\tD003327\n7\t24\t27\tCHD\tDisease\tD003327\n"
            "7\t49\t52\tCHD\tDisease\tD003327\n")
FILES = {
    "dict.tsv": DICT,
    "empty.tsv": "# nothing\n",
    "notab.tsv": "D001943\tBreast Neoplasms\nD051437 Kidney Failure\n",
    "badid.tsv": "D001943\tBreast Neoplasms\nXYZ-12\tSomething\n",
    "nosyn.tsv": "D001943\tBreast Neoplasms\nD051437\tKidney Failure\n",
    "syn.tsv": "D051437\tKidney Failure\nD051437\trenal failure\nD001943\tBreast Neoplasms\nD001943\tbreast cancer\n",
    "mentions.txt": "kidney failure\nbreast neoplasms\n",
    "blank.txt": "\n  \n",
    "docs.pubtator": PUBTATOR,
    "offsets.pubtator": "7|t|Kidney failure.\n7|a|x\n7\t0\t99\tKidney failure\tDisease\n",
    "mismatch.pubtator": "7|t|Kidney failure.\n7|a|x\n7\t0\t6\tRenal\tDisease\n",
    "nodoc.pubtator": "7|t|Kidney failure.\n7|a|x\n9\t0\t6\tKidney\tDisease\n",
    "noids.pubtator": "7|t|Kidney failure.\n7|a|x\n7\t0\t14\tKidney failure\tDisease\n",
    "gold.tsv": "kidney failure\tD051437\nbreast neoplasms\tD001943\n",
    "gold_cols.tsv": "kidney failure D051437\n",
    "gold_badid.tsv": "kidney failure\tbanana\n",
    "gold_other.tsv": "renal colic\tD051437\n",
    "notlink.tsv": "kidney failure\tD051437\n",
}
BINARY = b"\x00\x01\x02"


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "mentions.bin").write_bytes(BINARY)
    (tmp_path / "exists").mkdir()
    (tmp_path / "links.tsv").write_text("")  # replaced below by a real `link` output
    return tmp_path


def _link(*extra: str) -> list[str]:
    return ["link", "--dictionary", "{d}/dict.tsv", "--mentions", "{d}/mentions.txt", "--recipe", "tfidf", *extra]


# (argv with {d} for the folder, a fragment the error line must hold, the path that must not be written)
CASES = [
    (["link", "--dictionary", "{d}/missing.tsv", "--mentions", "{d}/mentions.txt", "--recipe", "tfidf"],
     "missing.tsv does not exist; pass a dictionary", None),
    (["link", "--dictionary", "{d}/exists", "--mentions", "{d}/mentions.txt"], "exists is a folder; pass a", None),
    (["link", "--dictionary", "{d}/empty.tsv", "--mentions", "{d}/mentions.txt"], "dictionary is empty", None),
    (["link", "--dictionary", "{d}/notab.tsv", "--mentions", "{d}/mentions.txt"], "notab.tsv:2: expected 'id<TAB>name'",
     None),
    (["link", "--dictionary", "{d}/badid.tsv", "--mentions", "{d}/mentions.txt"],
     "badid.tsv:2: id 'XYZ-12' is in no known format", None),
    (_link("--out", "{d}/o.tsv")[:4] + ["{d}/mentions.bin", "--recipe", "tfidf", "--out", "{d}/o.tsv"],
     "mentions.bin is not a text file", "o.tsv"),
    (_link("--out", "{d}/o.tsv")[:4] + ["{d}/blank.txt", "--recipe", "tfidf", "--out", "{d}/o.tsv"],
     "blank.txt has no mentions", "o.tsv"),
    (_link()[:4] + ["{d}/offsets.pubtator", "--recipe", "tfidf+context"], "offsets.pubtator:3: offsets 0-99", None),
    (_link()[:4] + ["{d}/mismatch.pubtator", "--recipe", "tfidf"], "mismatch.pubtator:3: mention 'Renal' differs",
     None),
    (_link()[:4] + ["{d}/nodoc.pubtator", "--recipe", "tfidf"], "nodoc.pubtator:3: mention of document 9", None),
    (_link()[:4] + ["{d}/mentions.txt", "--recipe", "tfidf+context"], "uses each mention's abstract", None),
    (_link("--out", "{d}/no/links.tsv"), "The folder of --out", None),
    (_link("--out", "{d}/exists"), "exists is a folder; give a file name", None),
    (_link("--known-ids", "{d}/badid.tsv"), "badid.tsv:2: id 'XYZ-12'", None),
    (_link("--top-k", "0"), "must be at least 1", None),
    (_link("--recipe", "tfidf+contxt"), "invalid choice: 'tfidf+contxt'", None),
    (["train", "--pairs", "{d}/nosyn.tsv", "--out", "{d}/enc"], "nosyn.tsv has no synonyms", "enc"),
    (["train", "--pairs", "{d}/missing.tsv", "--out", "{d}/enc"], "missing.tsv does not exist", "enc"),
    (["train", "--pairs", "{d}/syn.tsv", "--out", "{d}/no/enc"], "The folder of --out", None),
    (["train", "--pairs", "{d}/syn.tsv", "--out", "{d}/exists"], "exists exists; choose a new folder", None),
    (["train", "--pairs", "{d}/syn.tsv", "--out", "{d}/enc", "--dictionary-negatives", "2"],
     "needs a --dictionary", "enc"),
    (["train", "--pairs", "{d}/syn.tsv", "--out", "{d}/enc", "--dictionary-negatives", "-1"], "must be 0 or more",
     "enc"),
    (["train", "--pairs", "{d}/syn.tsv", "--out", "{d}/enc", "--epochs", "two"], "'two' is not a whole number",
     "enc"),
    (["score", "--predictions", "{d}/links.tsv", "--gold", "{d}/empty.tsv"], "empty.tsv has no gold rows", None),
    (["score", "--predictions", "{d}/links.tsv", "--gold", "{d}/blank.txt"], "blank.txt has no gold rows", None),
    (["score", "--predictions", "{d}/links.tsv", "--gold", "{d}/gold_cols.tsv"],
     "gold_cols.tsv:1: expected 'mention<TAB>ids'", None),
    (["score", "--predictions", "{d}/links.tsv", "--gold", "{d}/gold_badid.tsv"], "gold_badid.tsv:1: id 'banana'",
     None),
    (["score", "--predictions", "{d}/links.tsv", "--gold", "{d}/gold_other.tsv"], "no prediction", None),
    (["score", "--predictions", "{d}/notlink.tsv", "--gold", "{d}/gold.tsv"], "notlink.tsv:1: not a `link` output",
     None),
    (["score", "--predictions", "{d}/empty.tsv", "--gold", "{d}/gold.tsv"], "empty.tsv:1: not a `link` output", None),
    (["score", "--predictions", "{d}/missing.tsv", "--gold", "{d}/gold.tsv"], "missing.tsv does not exist", None),
    (["score", "--predictions", "{d}/links.tsv", "--gold", "{d}/noids.pubtator"], "has no gold ids", None),
]


@pytest.mark.parametrize(("argv", "fragment", "unwritten"), CASES, ids=[f"{c[0][0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_clear_line_with_status_2(files, capsys, argv, fragment, unwritten):
    assert L.main([a.format(d=files) for a in _link("--out", "{d}/links.tsv")]) == 0  # a real `link` output
    capsys.readouterr()
    try:
        status = L.main([a.format(d=files) for a in argv])
    except SystemExit as exc:  # argparse's own usage errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2
    assert fragment in err, err
    assert "Traceback" not in err
    if unwritten is not None:
        assert not (files / unwritten).exists()
    assert not list(files.glob("*.tmp")) and not list(files.glob("**/*.tmp"))


def test_train_then_link_with_the_trained_encoder(tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(FILES["syn.tsv"])
    out = tmp_path / "enc"
    assert L.main(["train", "--pairs", str(pairs), "--out", str(out), "--max-steps", "1", "--batch-size", "4",
                   "--device", "cpu", "--seed", "3"]) == 0
    assert "trained 1 steps" in capsys.readouterr().out
    assert L.model_pooling(str(out)) == "mean"  # minilm's pooling, recorded beside the weights
    (tmp_path / "m.txt").write_text("renal failure\n")
    assert L.main(["link", "--dictionary", str(pairs), "--mentions", str(tmp_path / "m.txt"), "--recipe",
                   "dense+tfidf", "--model", str(out), "--top-k", "1", "--device", "cpu"]) == 0
    assert "renal failure\t1\tD051437" in capsys.readouterr().out


def test_recipes_hold_the_fold_chosen_settings():
    assert L.RECIPES["dense+tfidf+context"].tfidf_weight == 0.25
    assert (L.RECIPES["tfidf+context"].prior, L.RECIPES["tfidf+context"].citation) == (0.1, 0.1)
    assert L.recipe("dense", kind="combined", tfidf_weight=0.5).tfidf_weight == 0.5  # options override
    assert L.recipe("dense", model=None).model == "minilm"  # None leaves the recipe's setting
    with pytest.raises(L.LinkingError, match="No linker recipe 'best'"):
        L.recipe("best")


def test_command_and_benchmark_build_the_same_linker(tmp_path, capsys):
    # the benchmark's way: a task from annotated documents, the recipe built over its dictionary, ranked with the
    # task's variants and cited ids; the command's way: the same files through `link --recipe`
    train_file, test_file = tmp_path / "train.txt", tmp_path / "test.pubtator"
    train_file.write_text("1|t|Coronary heart disease in men.\n1|a|x\n1\t0\t22\tCoronary heart disease\tDisease\tD003327\n")
    test_file.write_text(PUBTATOR)
    vocab = Vocabulary(("coronary heart disease", "CHD syndrome", "breast neoplasms", "kidney failure",
                        "familial breast cancer"), ("D003327", "C000001", "D001943", "D051437", "OMIM:114480"))
    train_texts, train, _ = read_ncbi_disease(train_file)
    test_texts, test, _ = read_ncbi_disease(test_file)
    task = task_from_mentions(train_texts, train, test_texts, test, vocab)
    for name in ("tfidf", "tfidf+context", "dense+tfidf+context"):
        chosen = L.RECIPES[name]
        linker = L.build_linker(chosen, task.dictionary, known_ids=task.known_ids, device="cpu")
        ctx = dict(variants=list(task.variants), cited=list(task.cited)) if chosen.context else {}
        bench = linker.rank(list(task.queries), k=3, **ctx)
        dictionary, known = tmp_path / "dictionary.tsv", tmp_path / "known.tsv"
        dictionary.write_text("".join(f"{c}\t{n}\n" for n, c in zip(task.dictionary.names, task.dictionary.ids)))
        known.write_text("".join(f"{c}\tx\n" for c in sorted(task.known_ids)))
        out = tmp_path / f"{name}.tsv"
        assert L.main(["link", "--dictionary", str(dictionary), "--mentions", str(test_file), "--recipe", name,
                       "--known-ids", str(known), "--top-k", "3", "--device", "cpu", "--out", str(out)]) == 0
        rows = [line.split("\t") for line in out.read_text().splitlines()[1:]]
        command = [[r[2] for r in rows if (r[5], r[6]) == (m.doc_id, str(m.start))] for m in test]
        assert command == [list(ids) for ids in bench.ids], name
        scores = [[float(r[4]) for r in rows if (r[5], r[6]) == (m.doc_id, str(m.start))] for m in test]
        assert scores == [[round(float(s), 4) for s in row] for row in bench.scores], name
    capsys.readouterr()
    # context changes the outcome here: the short form 'CHD' alone matches 'CHD syndrome'; in its abstract it is
    # coronary heart disease
    plain = L.build_linker(L.RECIPES["tfidf"], task.dictionary).rank(list(task.queries), k=1).top1()
    assert plain[1] == "C000001"
    assert bench.ids[1][0] == "D003327"
