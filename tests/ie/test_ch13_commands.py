"""Chapter 13's three commands on bad input: one table per command (input, message fragment, exit status).

Every case must stop with exit status 2 and one ``error: ...`` line that names the file, line or id and what is
wrong, before any model is trained or loaded, and leave no output file behind. Nothing here trains a model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils.ie.biored import write_pubtator
from course_utils.ie.relations import models as relations
from course_utils.ie.relations import ner as ner_biored
from course_utils.ie.relations import pipeline as biored_pipeline
from course_utils.ie.relations.synthetic import synthetic_biored

GOOD = "good.PubTator"


def _files(root: Path) -> dict[str, Path]:
    """Write every input a case can name into ``root`` and return them by key."""
    split = synthetic_biored(6, 3, seed=7)
    good = write_pubtator(split.train, root / GOOD)
    other = write_pubtator(split.test, root / "other.PubTator")
    text = good.read_text(encoding="utf-8")
    lines = text.split("\n")
    first_relation = next(i for i, line in enumerate(lines) if len(line.split("\t")) == 5)
    first_mention = next(i for i, line in enumerate(lines) if len(line.split("\t")) == 6)

    def edited(name: str, index: int, column: int, value: str) -> Path:
        copy = list(lines)
        cols = copy[index].split("\t")
        cols[column] = value
        copy[index] = "\t".join(cols)
        (root / name).write_text("\n".join(copy), encoding="utf-8")
        return root / name

    files = {
        "good": good, "other": other,
        "empty": root / "empty.PubTator",
        "bad_relation_type": edited("rel.PubTator", first_relation, 1, "Asociation"),
        "bad_novelty": edited("nov.PubTator", first_relation, 4, "Nvel"),
        "bad_entity_type": edited("ent.PubTator", first_mention, 4, "GeneProduct"),
        "no_relations": root / "norel.PubTator",
        "latin1": root / "latin1.PubTator",
        "folder": root / "a_folder",
        "litcoin_as_pubtator": root / "abstracts_x.tsv",
        "model_bad_json": root / "model_bad",
        "out_folder": root / "out_is_folder",
        "out_file": root / "out_is_file",
    }
    files["empty"].write_text("", encoding="utf-8")
    files["no_relations"].write_text("\n".join(line for line in lines if len(line.split("\t")) != 5),
                                     encoding="utf-8")
    files["latin1"].write_bytes("1|t|caf\xe9\n1|a|x\n".encode("latin-1"))
    files["folder"].mkdir()
    files["litcoin_as_pubtator"].write_text("abstract_id\ttitle\tabstract\n1\tA title\tAn abstract\n", encoding="utf-8")
    files["model_bad_json"].mkdir()
    for name in ("config.json", "pipeline.json"):
        (files["model_bad_json"] / name).write_text("{not json", encoding="utf-8")
    files["out_folder"].mkdir()
    files["out_file"].write_text("keep me", encoding="utf-8")
    return files


def _run(main, argv: list[str], root: Path, capsys) -> tuple[int, str]:
    before = {p.name for p in root.iterdir()}
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        status = exc.code
    err = capsys.readouterr().err
    after = {p.name for p in root.iterdir()}
    assert after == before, f"the command left {sorted(after - before)} behind"
    return status, err


# (argv with {key} for a file of _files, expected fragment, exit status)
RELATIONS = [
    ("train --train {missing} --out {new}", "missing.PubTator: not found", 2),
    ("train --train {empty} --out {new}", "empty.PubTator:1 (document -): no document in the file", 2),
    ("train --train {bad_relation_type} --out {new}", "relation type 'Asociation' is not one of Association", 2),
    ("train --train {bad_novelty} --out {new}", "novelty 'Nvel' is not one of Novel, No", 2),
    ("train --train {bad_entity_type} --out {new}", "entity type 'GeneProduct' is not one of GeneOrGeneProduct", 2),
    ("train --train {no_relations} --out {new}", "has no relation lines to learn from", 2),
    ("train --train {latin1} --out {new}", "latin1.PubTator is not UTF-8 text", 2),
    ("train --train {folder} --out {new}", "a_folder: a folder", 2),
    ("train --train {litcoin_as_pubtator} --out {new}", "abstracts_x.tsv:1 (document abstract_id): annotation line", 2),
    ("train --train {good} --out {out_file}", "--out {out_file} is a file", 2),
    ("train --train {good} --out {new} --epochs 0", "0 must be at least 1", 2),
    ("predict --model-dir {missing_dir} --input {good} --out {new}", "config.json not found", 2),
    ("predict --model-dir {model_bad_json} --input {good} --out {new}", "cannot be read", 2),
    ("predict --model-dir {missing_dir} --input {empty} --out {new}", "no document in the file", 2),
    ("predict --model-dir {missing_dir} --input {good} --out {out_folder}", "is a folder", 2),
    ("score --gold {good} --pred {other}", "document(s) not in", 2),
    ("score --gold {no_relations} --pred {good}", "no relation lines: there is nothing to score against", 2),
    ("score --gold {good} --pred {bad_relation_type}", "rel.PubTator:", 2),
]

NER = [
    ("train --train {missing} --out {new}", "no such file", 2),
    ("train --train {empty} --out {new}", "no document in the file", 2),
    ("train --train {bad_entity_type} --out {new}", "ent.PubTator:", 2),
    ("train --train {good} --out {out_file}", "is a file", 2),
    ("train --train {good} --entities {good} --out {new}", "--entities", 2),
    ("train --train {good} --out {new} --max-length -3", "-3 must be at least 1", 2),
    ("predict --model-dir {missing_dir} --input {good} --out {new}", "does not exist", 2),
    ("predict --model-dir {missing_dir} --input {latin1} --out {new}", "is not UTF-8 text", 2),
    ("predict --model-dir {missing_dir} --input {good} --out {out_folder}", "is a folder", 2),
    ("score --gold {good} --pred {other}", "not in the gold set", 2),
    ("score --gold {good} --pred {bad_novelty}", "novelty 'Nvel'", 2),
    ("score --gold {empty} --pred {good}", "no document in the file", 2),
]

PIPELINE = [
    ("train --train {missing} --out {new}", "not found", 2),
    ("train --train {empty} --out {new}", "no document in the file", 2),
    ("train --train {no_relations} --out {new}", "has no relations to learn from", 2),
    ("train --train {bad_relation_type} --out {new}", "relation type 'Asociation'", 2),
    ("train --train {good} --out {out_file}", "is a file", 2),
    ("train --train {good} --out {new} --relation-epochs x", "'x' is not a whole number", 2),
    ("predict --model-dir {missing_dir} --input {good} --out {new}", "no trained pipeline", 2),
    ("predict --model-dir {model_bad_json} --input {good} --out {new}", "cannot be read", 2),
    ("predict --model-dir {missing_dir} --input {bad_entity_type} --out {new}", "entity type 'GeneProduct'", 2),
    ("predict --model-dir {missing_dir} --input {no_relations} --out {out_folder}", "is a folder", 2),
    ("score --gold {good} --pred {other}", "not in the gold file", 2),
    ("score --gold {empty} --pred {good}", "no document in the file", 2),
    ("score --gold {good} --pred {good} --json {out_folder}", "--json {out_folder} is a folder", 2),
]


def _case(template: str, fragment: str, root: Path) -> tuple[list[str], str]:
    names = {k: str(v) for k, v in _files(root).items()}
    names.update(missing=str(root / "missing.PubTator"), missing_dir=str(root / "no_model"), new=str(root / "new_out"))
    return template.format(**names).split(), fragment.format(**names)


@pytest.mark.parametrize(("main", "template", "fragment", "status"),
                         [(relations.main, *c) for c in RELATIONS] + [(ner_biored.main, *c) for c in NER]
                         + [(biored_pipeline.main, *c) for c in PIPELINE],
                         ids=[f"relations:{c[0]}" for c in RELATIONS] + [f"ner:{c[0]}" for c in NER]
                         + [f"pipeline:{c[0]}" for c in PIPELINE])
def test_bad_input_stops_with_a_message_and_status_2(main, template: str, fragment: str, status: int,
                                                     tmp_path: Path, capsys) -> None:
    argv, expected = _case(template, fragment, tmp_path)
    code, err = _run(main, argv, tmp_path, capsys)
    assert code == status
    assert expected in err, err
    assert "Traceback" not in err
    if (tmp_path / "out_is_file").exists():
        assert (tmp_path / "out_is_file").read_text() == "keep me"


def test_csv_output_keeps_the_relations_beside_the_submission(tmp_path: Path) -> None:
    split = synthetic_biored(4, 1, seed=3)
    docs = split.train
    written = biored_pipeline.write_documents(docs, tmp_path / "pred.csv")
    assert [p.name for p in written] == ["pred.csv", "pred_relations.csv"]
    rows = (tmp_path / "pred_relations.csv").read_text().splitlines()
    assert rows[0].split("\t") == ["id", "abstract_id", "type", "entity_1_id", "entity_2_id", "novel"]
    assert len(rows) - 1 == sum(len(d.relations) for d in docs) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.csv", "pred_relations.csv"]  # no temporary left


def test_score_json_is_written_whole(tmp_path: Path, capsys) -> None:
    gold = write_pubtator(synthetic_biored(4, 1, seed=3).train, tmp_path / "gold.PubTator")
    assert biored_pipeline.main(["score", "--gold", str(gold), "--pred", str(gold), "--json",
                                 str(tmp_path / "s.json")]) == 0
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["biored"]["pair_novelty"]["f1"] == 1.0 and scores["documents_missing"] == 0
    assert "pair_novelty" in capsys.readouterr().out
