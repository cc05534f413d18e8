"""Small fixtures in each manifest's exact format, made by the course's own generators, for the lab-path rehearsal
without ``COURSE_REAL_DATA`` (a student's clone). See ``rehearsal.datasets`` for how they are staged.

=================  ============================================  ==========================================
manifest           format (as fetch lays it out)                 generator
=================  ============================================  ==========================================
cord19             metadata.csv, CORD-19's columns               text.corpus.synthetic_corpus
biored             BioRED/{Train,Dev,Test}.PubTator              ie.synthetic_biored
ncbi_disease       NCBI{train,develop,test}set_corpus.txt        ie.linking_data.synthetic_linking, its
                   (PubTator, SpecificDisease mentions)          surface forms placed in sentences
disease_vocab      mesh_descriptors_c_f_tree.tsv, mesh_scr.tsv,  the same concepts' preferred names
                   omim.tsv (the dismanet columns)
ruijin_diabetes    N.txt + N.ann brat pairs, N the course's      ie.synthetic_zh (no Ruijin text)
                   Ruijin split ids
umnsrs             UMNSRS_{similarity,relatedness}.csv           text.evaluate.planted_pairs of the corpus
mayosrs            MayoSRS.gold/.terms, MiniMayoSRS.*            the same pairs
bio_simlex         Bio-SimLex.txt (word, word, score)            the same pairs
word_classes       README + one <class>.txt per class            the corpus's planted categories, under
                                                                 the manifest's class file names
=================  ============================================  ==========================================

LitCoin is left out: no chapter needs it (chapter 13 checks its overlap with BioRED only when it is present).
Every fixture is smaller than the manifest's counts, so each is placed as fetch leaves it (not verified).
"""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["synthetic_sources"]

_N_CORPUS = 2000
_SEED = 1234


def _cord19(target: Path) -> Path:
    from course_utils.text.corpus import synthetic_corpus

    target.mkdir(parents=True, exist_ok=True)
    docs = synthetic_corpus(_N_CORPUS, seed=_SEED).documents
    with open(target / "metadata.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["cord_uid", "sha", "source_x", "title", "abstract", "publish_time", "authors", "journal"])
        for i, doc in enumerate(docs):
            writer.writerow([f"syn{i:05d}", "", "synthetic", doc.title, doc.abstract, "2020-01-01", "", ""])
    return target


def _biored(target: Path) -> Path:
    from course_utils.ie.biored import write_pubtator
    from course_utils.ie.relations.synthetic import synthetic_biored

    split = synthetic_biored(80, 40, seed=_SEED)
    folder = target / "BioRED"
    folder.mkdir(parents=True, exist_ok=True)
    write_pubtator(split.train, folder / "Train.PubTator")
    write_pubtator(split.test[:20], folder / "Dev.PubTator")
    write_pubtator(split.test[20:], folder / "Test.PubTator")
    return target


def _mesh_id(concept_id: str) -> str:
    return "D" + concept_id.lstrip("C").zfill(6)[-6:]


def _ncbi_documents(mentions: list[tuple[str, str]], first_pmid: int) -> str:
    """PubTator blocks: a title and an abstract of a few sentences, each naming one disease mention."""
    blocks = []
    for d in range(0, len(mentions), 4):
        pmid = str(first_pmid + d)
        group = mentions[d:d + 4]
        title = f"A case series on {group[0][0]}."
        abstract_parts, rows = [], []
        # offsets index title + " " + abstract
        offset = len(title) + 1
        for j, (surface, cid) in enumerate(group):
            sentence = (f"Patients with {surface} were followed for {j + 2} years. " if j % 2 == 0 else
                        f"We observed {surface} in several relatives. ")
            start = offset + sum(len(p) for p in abstract_parts) + sentence.index(surface)
            rows.append(f"{pmid}\t{start}\t{start + len(surface)}\t{surface}\tSpecificDisease\t{_mesh_id(cid)}")
            abstract_parts.append(sentence)
        rows.insert(0, f"{pmid}\t{len('A case series on ')}\t{len('A case series on ') + len(group[0][0])}\t"
                       f"{group[0][0]}\tSpecificDisease\t{_mesh_id(group[0][1])}")
        abstract = "".join(abstract_parts).rstrip()
        blocks.append("\n".join([f"{pmid}|t|{title}", f"{pmid}|a|{abstract}", *rows]))
    return "\n" + "\n\n".join(blocks) + "\n\n"


def _ncbi_and_vocab(ncbi: Path, vocab: Path) -> tuple[Path, Path]:
    from course_utils.ie.linking.data import synthetic_linking

    data = synthetic_linking(seed=_SEED)
    train = [(surface, cid) for surface, cid in data.train_pairs]
    test = [(surface, cid) for surface, cid, _ in data.test_mentions]
    ncbi.mkdir(parents=True, exist_ok=True)
    (ncbi / "NCBItrainset_corpus.txt").write_text(_ncbi_documents(train, 10_000_000), encoding="utf-8")
    (ncbi / "NCBIdevelopset_corpus.txt").write_text(_ncbi_documents(test[: len(test) // 2], 20_000_000),
                                                   encoding="utf-8")
    (ncbi / "NCBItestset_corpus.txt").write_text(_ncbi_documents(test[len(test) // 2:], 30_000_000), encoding="utf-8")
    vocab.mkdir(parents=True, exist_ok=True)
    with open(vocab / "mesh_descriptors_c_f_tree.tsv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["MESH_ID", "MESH_NAME", "PARENT_MESH_ID", "PARENT_MESH_CATEGORY", "ROOT_MESH_CATEGORY",
                         "LEVEL"])
        for concept in data.concepts:
            writer.writerow([_mesh_id(concept.id), concept.names[0], "D004194", "C23.550", "C23", "2"])
    (vocab / "mesh_scr.tsv").write_text("MESH_SCR_ID\tMESH_SCR_NAME\tMESH_ID\n", encoding="utf-8")
    (vocab / "omim.tsv").write_text("OMIM_ID\tOMIM_NAME\n", encoding="utf-8")
    return ncbi, vocab


def _ruijin(target: Path) -> Path:
    from course_utils.ie.brat import write_document
    from course_utils.ie.ner.synthetic import synthetic_documents
    from course_utils.ie.ner.tagger import load_split

    split = load_split()
    made = {
        "train": synthetic_documents(len(split["train"]), seed=_SEED),
        "val": synthetic_documents(len(split["val"]), seed=_SEED, first_id=10_000),
        "test": synthetic_documents(len(split["test"]), seed=_SEED, held_out=True, first_id=20_000),
    }
    for part, docs in made.items():
        for doc_id, doc in zip(split[part], docs, strict=True):
            write_document(target, doc_id, doc.text, doc.entities)
    return target


def _similarity(scratch: Path) -> dict[str, Path]:
    from course_utils.text.corpus import synthetic_corpus
    from course_utils.text.evaluate import planted_pairs

    from .datasets import _write_mayosrs, _write_umnsrs

    corpus = synthetic_corpus(_N_CORPUS, seed=_SEED)
    pairs = [(a, b, f"{score:g}") for a, b, score in planted_pairs(corpus, n_unrelated=60, seed=0)]
    half = len(pairs) // 2
    out = {
        "umnsrs": _write_umnsrs(scratch / "umnsrs", {"UMNSRS_similarity.csv": pairs[:half],
                                                     "UMNSRS_relatedness.csv": pairs[half:]}),
        "mayosrs": _write_mayosrs(scratch / "mayosrs", pairs[: min(101, len(pairs))], pairs[:30]),
    }
    simlex = scratch / "bio_simlex"
    simlex.mkdir(parents=True, exist_ok=True)
    (simlex / "Bio-SimLex.txt").write_text("".join(f"{a}\t{b}\t{s}\n" for a, b, s in pairs), encoding="utf-8")
    out["bio_simlex"] = simlex
    classes = scratch / "word_classes"
    classes.mkdir(parents=True, exist_ok=True)
    names = _class_files()
    (classes / "README").write_text("Synthetic word classes (the course's planted categories) for the rehearsal.\n")
    members = list(corpus.categories.values())
    for i, filename in enumerate(names):
        words = members[i] if i < len(members) else ()
        (classes / filename).write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    out["word_classes"] = classes
    return out


def _class_files() -> list[str]:
    from course_utils.data import list_manifests, load_manifest

    if "word_classes" not in list_manifests():
        return []
    return [f.filename for f in load_manifest("word_classes").files if f.filename.endswith(".txt")]


def synthetic_sources(scratch: Path) -> dict[str, tuple[Path, str, bool, str]]:
    """Return ``{name: (folder, "fixture", False, note)}`` for every dataset of the rehearsal, made under
    ``scratch``."""
    note = "generated by the course's own generators (no COURSE_REAL_DATA)"
    out = {"cord19": (_cord19(scratch / "cord19"), "fixture", False, f"{_N_CORPUS} synthetic documents; {note}"),
           "biored": (_biored(scratch / "biored"), "fixture", False, f"80 / 20 / 20 synthetic abstracts; {note}")}
    ncbi, vocab = _ncbi_and_vocab(scratch / "ncbi_disease", scratch / "disease_vocab")
    out["ncbi_disease"] = (ncbi, "fixture", False, f"synthetic concepts' mentions in sentences; {note}")
    out["disease_vocab"] = (vocab, "fixture", False, f"the synthetic concepts' preferred names; {note}")
    out["ruijin_diabetes"] = (_ruijin(scratch / "ruijin_diabetes"), "fixture", False,
                              f"synthetic Chinese notes under the course's split ids; {note}")
    for name, folder in _similarity(scratch).items():
        out[name] = (folder, "fixture", False, f"the synthetic corpus's planted pairs / categories; {note}")
    return out
