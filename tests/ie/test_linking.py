"""Linking by nearest names: dictionary, rules, baselines, Acc@k, the command (chapter 14)."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.ie.linking import linkers as L
from course_utils.ie.linking.data import (
    LinkingDataError,
    Vocabulary,
    cited_omim_ids,
    document_abbreviations,
    document_folds,
    expand_abbreviations,
    extended_training_rows,
    is_short_form,
    normalize_name,
    parse_ids,
    schwartz_hearst,
    split_composite,
    synthetic_linking,
)

VOCAB = Vocabulary(("Breast Neoplasms", "Ovarian Neoplasms", "Colonic Neoplasms", "Neoplasms", "Kidney Failure"),
                   ("D001943", "D010051", "D003110", "D009369", "D051437"))


def test_mesh_prefixed_ids_are_the_corpus_ids():
    # a MEDIC-style dictionary (MESH:D...) must match NCBI-disease's gold ids (D...), not score 0 silently
    assert parse_ids("MESH:D051437|mesh:C000657245") == (("D051437", "C000657245"), 0)
    assert parse_ids("MESHX:D051437") == (("MESHX:D051437",), 0)  # another prefix is left as it is


def test_normalisation_and_ids():
    assert normalize_name("Colon-Cancers, (familial)") == "colon cancers familial"
    assert parse_ids("D001943|D010051") == (("D001943", "D010051"), 0)
    assert parse_ids("D020279+D035583") == (("D020279", "D035583"), 0)
    assert parse_ids("OMIM:106210 ") == (("OMIM:106210",), 1)  # stray space stripped and counted
    assert parse_ids(" D008661") == (("D008661",), 1)
    with pytest.raises(LinkingDataError, match=r"f\.txt:7: id 'banana' is in no known format"):
        parse_ids("banana", where="f.txt:7")


def test_abbreviations_and_composites():
    text = "Mutations in adenomatous polyposis coli (APC) cause familial colon cancer. APC is a tumour suppressor."
    assert schwartz_hearst(text) == {"APC": "adenomatous polyposis coli"}
    # as in the authors' code, a parenthesis that goes on after ';' or ',' defines what comes before it
    assert schwartz_hearst("The Schwartz-Jampel syndrome (SJS; chondrodystrophic myotonia; McK 255800) is rare.") == \
        {"SJS": "Schwartz-Jampel syndrome"}
    assert schwartz_hearst("globoid cell leukodystrophy (Krabbe disease; AO-GLD) was studied") == {}
    assert expand_abbreviations("APC", {"APC": "adenomatous polyposis coli"}) == "adenomatous polyposis coli"
    assert expand_abbreviations("APC-like", {"APC": "x"}) == "APC-like"
    # a mention that holds the definition loses the short form instead of repeating the long form inside it
    g6pd = {"G6PD": "glucose-6-phosphate dehydrogenase"}
    assert expand_abbreviations("glucose-6-phosphate dehydrogenase (G6PD) deficiency", g6pd) == \
        "glucose-6-phosphate dehydrogenase deficiency"
    assert expand_abbreviations("G6PD deficiency", g6pd) == "glucose-6-phosphate dehydrogenase deficiency"
    assert split_composite("breast and ovarian cancer") == ["breast cancer", "ovarian cancer"]
    assert split_composite("colon and some other cancers") == ["colon cancers", "some other cancers"]
    assert split_composite("kidney failure") == ["kidney failure"]


def test_acc_at_k_on_a_toy_case_with_a_known_answer():
    ranked = [["A", "B", "C"], ["B", "A"], ["C", "D", "E", "F", "G", "H"], []]
    gold = [["A"], ["A", "Z"], ["H"], ["A"]]
    assert L.accuracy_at_k(ranked, gold, 1) == 0.25
    assert L.accuracy_at_k(ranked, gold, 2) == 0.5
    assert L.accuracy_at_k(ranked, gold, 5) == 0.5  # H is sixth
    assert L.strict_accuracy([["A"], ["A"], ["H", "C"]], [["A"], ["A", "Z"], ["C", "H"]]) == pytest.approx(2 / 3)


def test_hits_at_k_are_the_outcomes_accuracy_averages():
    ranked = [["A", "B", "C"], ["B", "A"], ["C", "D", "E", "F", "G", "H"], []]
    gold = [["A"], ["A", "Z"], ["H"], ["A"]]
    assert L.hits_at_k(ranked, gold, 1).tolist() == [True, False, False, False]
    assert L.hits_at_k(ranked, gold, 2).tolist() == [True, True, False, False]
    for k in (1, 2, 5, 6):
        assert L.hits_at_k(ranked, gold, k).mean() == L.accuracy_at_k(ranked, gold, k)
    with pytest.raises(L.LinkingError, match="3 rankings for 4"):
        L.hits_at_k(ranked[:3], gold, 1)


def test_document_bootstrap_margin_known_answers_and_a_direct_computation():
    # the same outcomes: no margin and no spread
    same = L.document_bootstrap_margin([1, 0, 1], [1, 0, 1], ["d1", "d1", "d2"])
    assert (same.margin, same.low, same.high, same.n_documents) == (0.0, 0.0, 0.0, 2)
    # every document gains one mention of its two: every resample has margin 0.5
    docs = [d for d in "abcde" for _ in range(2)]
    flat = L.document_bootstrap_margin([0] * 10, [1, 0] * 5, docs)
    assert flat.margin == flat.low == flat.high == 0.5
    # against a loop over the same draws: pool the drawn documents' mentions, margin of the pool
    rng = np.random.default_rng(3)
    docs = [f"d{i}" for i in rng.integers(0, 12, size=80)]
    a, b = rng.random(80) < 0.7, rng.random(80) < 0.8
    got = L.document_bootstrap_margin(a, b, docs, n_boot=300, level=0.9, seed=7)
    names = sorted(set(docs))
    draws = np.random.default_rng(7).integers(0, len(names), size=(300, len(names)))
    margins = []
    for draw in draws:
        rows = [j for i in draw for j, d in enumerate(docs) if d == names[i]]
        margins.append(b[rows].mean() - a[rows].mean())
    assert got.margin == pytest.approx(b.mean() - a.mean())
    assert (got.low, got.high) == pytest.approx(tuple(np.percentile(margins, [5, 95])))
    assert (got.n_mentions, got.n_documents, got.level) == (80, len(names), 0.9)


def test_document_bootstrap_accuracy_against_a_loop_over_the_same_draws():
    rng = np.random.default_rng(5)
    docs = [f"d{i}" for i in rng.integers(0, 9, size=60)]
    hits = rng.random(60) < 0.8
    got = L.document_bootstrap_accuracy(hits, docs, n_boot=200, level=0.9, seed=4)
    names = sorted(set(docs))
    accs = []
    for draw in np.random.default_rng(4).integers(0, len(names), size=(200, len(names))):
        rows = [j for i in draw for j, d in enumerate(docs) if d == names[i]]
        accs.append(hits[rows].mean())
    assert got.margin == pytest.approx(hits.mean())
    assert (got.low, got.high) == pytest.approx(tuple(np.percentile(accs, [5, 95])))
    assert got.low <= got.margin <= got.high and (got.n_mentions, got.n_documents) == (60, len(names))


def test_document_bootstrap_is_wider_when_gains_cluster_in_few_documents():
    # 20 documents of 10 mentions; linker b gains 20 mentions, all in two documents or spread one to a document
    docs = [f"d{i}" for i in range(20) for _ in range(10)]
    a = np.zeros(200, dtype=bool)
    clustered, spread = a.copy(), a.copy()
    clustered[:20] = True
    spread[::10] = True
    one = L.document_bootstrap_margin(a, clustered, docs)
    two = L.document_bootstrap_margin(a, spread, docs)
    assert one.margin == two.margin == pytest.approx(0.1)
    assert two.low == two.high == pytest.approx(0.1)
    assert one.high - one.low > 0.1 and one.low < 0.05
    with pytest.raises(L.LinkingError, match="document ids"):
        L.document_bootstrap_margin(a, spread, docs[:-1])
    with pytest.raises(L.LinkingError, match="level"):
        L.document_bootstrap_margin(a, spread, docs, level=95)


def test_lenient_and_strict_rules_on_a_composite_mention():
    tfidf = L.TfidfLinker(VOCAB)
    scores = L.evaluate(tfidf, ["breast and ovarian neoplasms", "kidney failure"],
                        [("D001943", "D010051"), ("D051437",)])
    # lenient: the first part alone is enough; strict: both parts must be found, and are (split, then linked)
    assert scores.acc1 == 1.0 and scores.strict == 1.0
    exact = L.evaluate(L.ExactMatchLinker(VOCAB), ["breast and ovarian neoplasms"], [("D001943", "D010051")])
    assert exact.acc1 == 0.0 and exact.strict == 1.0  # the split parts do match exactly
    # strict below lenient: one part found, the other not
    partial = L.evaluate(tfidf, ["breast and kidney neoplasms"], [("D001943", "D010051")])
    assert partial.acc1 == 1.0 and partial.strict == 0.0
    # a mention with two gold ids that does not split can never be strictly right
    assert L.evaluate(tfidf, ["breast neoplasms"], [("D001943", "D010051")]).strict == 0.0


def test_strict_rule_keeps_each_mentions_context_beside_a_composite():
    vocab = Vocabulary(("coronary heart disease", "CHD syndrome", "breast neoplasms", "ovarian neoplasms"),
                       ("D003327", "C000001", "D001943", "D010051"))
    ctx = L.ContextLinker(L.TfidfLinker(vocab), prior=0.0)
    queries, gold = ["CHD", "breast and ovarian neoplasms"], [("D003327",), ("D001943", "D010051")]
    together = L.evaluate(ctx, queries, gold, variants=["coronary heart disease", "breast and ovarian neoplasms"])
    alone = L.evaluate(ctx, queries[:1], gold[:1], variants=["coronary heart disease"])
    assert alone.acc1 == alone.strict == 1.0
    assert together.acc1 == 1.0 and together.strict == 1.0  # CHD keeps its long form beside the composite
    # a composite's parts take their parts of the variant ("BOC" expanded in its abstract) and the cited ids
    vocab2 = Vocabulary(("breast neoplasms", "ovarian neoplasms", "boc syndrome"), ("D001943", "D010051", "C000002"))
    ctx2 = L.ContextLinker(L.TfidfLinker(vocab2), prior=0.0)
    expanded = L.evaluate(ctx2, ["BC and OC"], [("D001943", "D010051")], variants=["breast and ovarian neoplasms"])
    assert expanded.strict == 1.0


def test_baselines_rank_ids_not_names():
    vocab = VOCAB.extended(["kidney failure", "renal failure"], ["D051437", "D051437"], "synonyms")
    assert len(vocab) == len(VOCAB) + 1  # "kidney failure" was already there for that id
    ranking = L.TfidfLinker(vocab).rank(["renal failure"], k=3)
    assert ranking.ids[0][0] == "D051437" and len(set(ranking.ids[0])) == len(ranking.ids[0])
    assert L.ExactMatchLinker(vocab).rank(["Renal-Failure"], k=5).ids == (("D051437",),)


def test_context_linker_takes_the_better_variant_and_the_training_prior():
    vocab = Vocabulary(("coronary heart disease", "CHD syndrome", "heart disease", "cardiopathy"),
                       ("D003327", "C000001", "D006331", "OMIM:100000"))
    tfidf = L.TfidfLinker(vocab)
    context = L.ContextLinker(tfidf, prior=0.0)
    plain = tfidf.scores(["CHD", "heart disease"])
    # no variants and no prior: the base linker's scores, untouched
    assert (context.scores(["CHD", "heart disease"]) == plain).all()
    both = context.scores(["CHD", "heart disease"], variants=["coronary heart disease", "heart disease"])
    expanded = tfidf.scores(["coronary heart disease"])[0]
    assert both[0] == pytest.approx(np.maximum(plain[0], expanded)) and (both[1] == plain[1]).all()
    assert tfidf.rank(["CHD"], k=1).top1() == ["C000001"]  # as written, the short form matches the wrong name
    assert context.rank(["CHD"], k=1, variants=["coronary heart disease"]).top1() == ["D003327"]
    # the prior is added to every name of a known id, and only to those
    prior = L.ContextLinker(tfidf, known_ids={"D006331"}, prior=0.1)
    lift = prior.scores(["cardiopathy"])[0] - tfidf.scores(["cardiopathy"])[0]
    assert lift == pytest.approx([0, 0, 0.1, 0], abs=1e-6)
    scores = L.evaluate(context, ["CHD"], [("D003327",)], variants=["coronary heart disease"])
    assert scores.acc1 == 1.0 and L.evaluate(tfidf, ["CHD"], [("D003327",)]).acc1 == 0.0
    with pytest.raises(L.LinkingError, match="variants and cited ids need a ContextLinker"):
        L.evaluate(tfidf, ["CHD"], [("D003327",)], variants=["coronary heart disease"])
    with pytest.raises(L.LinkingError, match="2 variants for 1 queries"):
        context.scores(["CHD"], variants=["a", "b"])
    with pytest.raises(L.LinkingError, match="has no scores"):
        L.ContextLinker(L.ExactMatchLinker(vocab))


def test_short_forms_read_off_the_documents_other_mentions():
    assert [is_short_form(m) for m in ("IDDM", "AO-GLD", "MEN1", "JT", "Iddm", "jaw tumor", "A")] == \
        [True, True, True, True, False, False, False]
    mentions = ["insulin-dependent diabetes mellitus", "IDDM", "adult onset globoid cell leukodystrophy", "GLD",
                "AO-GLD", "IDDM", "hyperparathyroidism and jaw tumor syndrome", "JT", "HPT", "DMD", "DMD defects"]
    assert document_abbreviations(mentions) == {
        "IDDM": "insulin-dependent diabetes mellitus",
        "GLD": "globoid cell leukodystrophy",  # the shortest suffix that spells it
        "AO-GLD": "adult onset globoid cell leukodystrophy",
    }  # JT: its T is not in "syndrome"; HPT likewise; "DMD defects" holds the short form itself
    # a short form the abstract defines is left to that definition; the shortest of several long forms wins
    assert document_abbreviations(mentions, {"IDDM": "x"}).keys() == {"GLD", "AO-GLD"}
    assert document_abbreviations(["jaw tumor", "JT", "benign jaw tumor"]) == {"JT": "jaw tumor"}
    assert document_abbreviations(["JT"]) == {} and document_abbreviations([]) == {}


def test_cited_omim_ids():
    text = ("HPT-JT is an autosomal dominant disease (OMIM 145001). See McKusick no. 203500, MIM #253000 and "
            "McK 255, 800 (the corpus writes 255,800 with a space). Not 145001 alone, nor OMIM 12345.")
    assert cited_omim_ids(text) == {"OMIM:145001", "OMIM:203500", "OMIM:253000", "OMIM:255800"}
    assert cited_omim_ids("no citation here") == set()


def test_context_linker_adds_the_citation_bonus_to_cited_ids_only():
    # the two Schwartz-Jampel names tie for the query, and a tie goes to the earlier name: type 2, the wrong one
    vocab = Vocabulary(("Schwartz-Jampel type 2 syndrome", "Schwartz-Jampel syndrome type 1", "myotonia"),
                       ("C537502", "OMIM:255800", "D009222"))
    tfidf = L.TfidfLinker(vocab)
    context = L.ContextLinker(tfidf, prior=0.0, citation=0.1)
    queries = ["Schwartz-Jampel syndrome", "myotonia"]
    plain = tfidf.scores(queries)
    cited = context.scores(queries, cited=[{"OMIM:255800", "OMIM:999999"}, set()])
    assert cited[0] - plain[0] == pytest.approx([0, 0.1, 0], abs=1e-6)  # an id not in the dictionary is ignored
    assert (cited[1] == plain[1]).all()
    gold = [("OMIM:255800",), ("D009222",)]
    assert L.evaluate(tfidf, queries, gold).acc1 == 0.5  # the tie goes to type 2
    # evaluate hands the cited ids to the linker: the bonus moves the first query to the cited id
    assert L.evaluate(context, queries, gold, cited=[{"OMIM:255800"}, set()]).acc1 == 1.0
    assert L.evaluate(context, queries, gold, cited=[set(), {"OMIM:255800"}]).acc1 == 0.5  # per query, not global
    assert L.evaluate(L.ContextLinker(tfidf, citation=0.0), queries, gold, cited=[{"OMIM:255800"}, set()]).acc1 == 0.5
    with pytest.raises(L.LinkingError, match="1 cited-id sets for 2 queries"):
        context.scores(queries, cited=[set()])
    with pytest.raises(L.LinkingError, match="cited ids need a ContextLinker"):
        L.evaluate(tfidf, queries, gold, cited=[set(), set()])


def test_extended_training_rows():
    rows = [("IDDM", "D003922"), ("diabetes", "D003920")]
    other = [("insulin-dependent diabetes mellitus", "D003922"), ("diabetes", "D003920"),
             ("insulin-dependent diabetes mellitus", "D003922")]
    extra = [("renal failure", "D051437"), ("diabetic", "D003920")]
    # other forms: only the rows not already there, once; extra rows, then the vocabulary names of their new
    # ids (D051437, not D003920, which the rows already have)
    assert extended_training_rows(rows, other_forms=other, extra=extra, vocabulary=VOCAB) == rows + [
        ("insulin-dependent diabetes mellitus", "D003922"), ("renal failure", "D051437"), ("diabetic", "D003920"),
        ("Kidney Failure", "D051437")]
    assert extended_training_rows(rows, extra=extra) == rows + extra  # no vocabulary: no names added
    assert extended_training_rows(rows) == rows


def test_empty_dictionary_is_refused():
    with pytest.raises(L.LinkingError, match="dictionary is empty"):
        L.TfidfLinker(Vocabulary((), ()))


def test_dense_linker_with_the_real_encoder():
    from course_utils.text.pretrained import load_encoder

    encoder = load_encoder(device="cpu")
    dense = L.DenseLinker(VOCAB, encoder, show_progress=False)
    ranking = dense.rank(["renal failure", "tumour of the breast"], k=2)
    assert ranking.ids[0][0] == "D051437" and ranking.ids[1][0] == "D001943"
    combined = L.CombinedLinker(dense, L.TfidfLinker(VOCAB), weight=0.5)
    assert combined.rank(["kidney failure"], k=1).top1() == ["D051437"]


def test_synthetic_concepts_have_planted_structure():
    data = synthetic_linking(seed=3)
    assert data.train_ids.isdisjoint(data.test_ids) and len(data.test_mentions) > 50
    assert {cid for _, cid, _ in data.test_mentions} <= data.test_ids
    first = data.concepts[0]
    assert len(first.names) == 5 and first.names[3].isupper()  # preferred, synonym, reordered, initials, misspelt
    assert synthetic_linking(seed=3) == data  # deterministic


def test_commands_on_a_toy_dictionary(tmp_path, capsys):
    dictionary = tmp_path / "dict.tsv"
    dictionary.write_text("D001943\tBreast Neoplasms\nD051437\tKidney Failure\nOMIM:114480\tBreast cancer\n")
    mentions = tmp_path / "mentions.txt"
    mentions.write_text("kidney failure\nbreast neoplasms\n\n")
    out = tmp_path / "links.tsv"
    assert L.main(["link", "--dictionary", str(dictionary), "--mentions", str(mentions), "--linker", "tfidf",
                   "--top-k", "2", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "mention\trank\tid\tname\tscore" and lines[1].startswith("kidney failure\t1\tD051437\t")
    assert len(lines) == 1 + 2 * 2
    gold = tmp_path / "gold.tsv"
    gold.write_text("kidney failure\tD051437\nbreast neoplasms\tD001943|OMIM:114480\n")
    assert L.main(["score", "--predictions", str(out), "--gold", str(gold)]) == 0
    assert "Acc@1 1.0000" in capsys.readouterr().out


def test_command_errors_are_clear(tmp_path, capsys):
    binary = tmp_path / "mentions.bin"
    binary.write_bytes(b"\x00\x01\x02")
    dictionary = tmp_path / "dict.tsv"
    dictionary.write_text("D001943\tBreast Neoplasms\n")
    assert L.main(["link", "--dictionary", str(dictionary), "--mentions", str(binary), "--linker", "exact"]) == 2
    assert "is not a text file" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text("D001943\tBreast Neoplasms\nXYZ-12\tSomething\n")
    assert L.main(["link", "--dictionary", str(bad), "--mentions", str(dictionary), "--linker", "exact"]) == 2
    assert "bad.tsv:2: id 'XYZ-12' is in no known format" in capsys.readouterr().err
    empty = tmp_path / "empty.tsv"
    empty.write_text("# nothing\n")
    assert L.main(["link", "--dictionary", str(empty), "--mentions", str(dictionary), "--linker", "exact"]) == 2
    assert "dictionary is empty" in capsys.readouterr().err


def test_linking_task_of_the_smoke_profile():
    from course_utils.ie.linking.data import linking_task
    from course_utils.profiles import chapter_settings

    task = linking_task(chapter_settings(14, "smoke"))
    assert len(task.queries) == len(task.gold) == len(task.kinds) > 50
    train_ids = {c for _, c in task.train_rows}
    assert all(g[0] not in train_ids for g in task.gold)  # every test concept is held out of training
    assert set(task.kinds) == {"synonym", "reordered", "misspelling"}


def test_training_mentions_come_first_and_win_ties():
    vocab = Vocabulary(("Cancer",), ("D009369",))
    primary = vocab.extended(["cancer"], ["D003110"], "train mentions", first=True)
    assert primary.ids == ("D003110", "D009369") and primary.sources == ("train mentions", "vocabulary")
    assert L.ExactMatchLinker(primary).rank(["cancer"], k=2).ids == (("D003110", "D009369"),)


def test_exercise_checkers():
    from course_utils.exercises import CORRECT, INCORRECT, NOT_ATTEMPTED, ch14

    assert ch14.check_accuracy_at_k(ch14.accuracy_at_k_solution).status == CORRECT
    assert ch14.check_accuracy_at_k(lambda r, g, k: None).status == NOT_ATTEMPTED
    only_first = ch14.check_accuracy_at_k(lambda r, g, k: sum(bool(x) and x[0] in y for x, y in zip(r, g)) / len(g))
    assert only_first.status == INCORRECT and "any of the first k" in only_first.message
    assert ch14.check_is_hard(ch14.is_hard_solution).status == CORRECT
    swapped = ch14.check_is_hard(lambda ap, an, m: ap < an + m)  # the poster's inequality as printed
    assert swapped.status == INCORRECT
    for strict_lt in (lambda ap, an, m: an - ap < m, lambda ap, an, m: ap + m > an):  # "<" written two ways
        feedback = ch14.check_is_hard(strict_lt)
        assert feedback.status == INCORRECT and "exactly at the margin" in feedback.message
    assert ch14.check_is_hard(lambda ap, an, m: ap + m >= an).status == CORRECT  # "<=" the other way round


def test_synonym_auc_has_known_answers():
    import numpy as np

    assert L.synonym_auc({"synonyms": np.array([0.9, 0.8]), "non-synonyms": np.array([0.1, 0.2])}) == 1.0
    assert L.synonym_auc({"synonyms": np.array([0.1]), "non-synonyms": np.array([0.9])}) == 0.0
    assert L.synonym_auc({"synonyms": np.array([0.5, 0.9]), "non-synonyms": np.array([0.5, 0.1])}) == 0.875


def test_document_folds_split_by_document_and_swap():
    from course_utils.ie.linking.data import Mention

    docs = [f"doc{i}" for i in range(7)]  # doc6 has no mention: it still counts when the documents are halved
    mentions = [Mention(d, 0, 1, f"m{i}", "Disease", ("D1",), "D1", False) for i, d in enumerate(docs[:6] * 2)]
    folds = document_folds(docs, mentions, seed=3)
    (listed0, queries0), (listed1, queries1) = folds
    assert listed0 == queries1 and queries0 == listed1  # the halves swap
    assert sorted(map(id, listed0 + queries0)) == sorted(map(id, mentions))  # every mention once
    assert not {m.doc_id for m in listed0} & {m.doc_id for m in queries0}  # no document on both sides
    shuffled = sorted(docs)
    np.random.default_rng(3).shuffle(shuffled)
    assert {m.doc_id for m in listed0} == set(shuffled[:3]) - {"doc6"}  # the first half of the seeded shuffle
    assert document_folds(list(reversed(docs)), mentions, seed=3) == folds  # the order given does not matter


def test_each_model_of_the_chapter_carries_the_pooling_it_was_trained_with():
    from course_utils.data import list_manifests, load_manifest
    from course_utils.profiles import CHAPTERS, chapter_settings

    assert L.model_pooling("minilm") == "mean"  # a sentence encoder trained on mean-pooled vectors
    assert L.model_pooling("sapbert") == "cls"  # SapBERT: agg_mode="cls"
    assert L.model_pooling("biomedbert") == "cls"  # self-aligned by the course with SapBERT's recipe
    assert L.model_pooling(chapter_settings(14, "smoke").model) == "mean"
    for profile in ("lab", "full"):
        s = chapter_settings(14, profile)
        assert L.model_pooling(s.model) == L.model_pooling(s.comparator) == "cls"
        # named by their manifests (pinned revision, checksums), never by hub id, and fetched with the chapter
        for name in (s.model, s.comparator):
            assert name in list_manifests() and load_manifest(name).kind == "model"
            assert name in CHAPTERS[14].datasets
    with pytest.raises(L.LinkingError, match="--pooling cls"):
        L.model_pooling("some-org/some-model")


def test_dense_linker_scores_with_the_pooling_it_is_given():
    from course_utils.text.pretrained import embed_texts, load_encoder

    encoder = load_encoder(device="cpu")
    cls = L.DenseLinker(VOCAB, encoder, pooling="cls", show_progress=False)
    expected = embed_texts([normalize_name("kidney failure")], encoder=encoder, max_length=25, pooling="cls",
                           show_progress=False)
    np.testing.assert_allclose(cls.embed(["Kidney Failure"]), expected, atol=1e-6)
    mean = L.DenseLinker(VOCAB, encoder, show_progress=False)
    assert mean.pooling == "mean" and not np.allclose(mean.embed(["kidney failure"]), expected)
    with pytest.raises(L.LinkingError, match="pooling must be one of"):
        L.DenseLinker(VOCAB, encoder, pooling="max")


def test_link_command_with_pooling_and_its_errors(tmp_path, capsys):
    from course_utils.ie.linking.self_align import save_encoder
    from course_utils.text.pretrained import load_encoder

    dictionary = tmp_path / "dict.tsv"
    dictionary.write_text("D001943\tBreast Neoplasms\nD051437\tKidney Failure\n")
    mentions = tmp_path / "mentions.txt"
    mentions.write_text("renal failure\n")
    args = ["link", "--dictionary", str(dictionary), "--mentions", str(mentions), "--device", "cpu"]
    assert L.main([*args, "--top-k", "1"]) == 0  # minilm, mean pooling by default
    assert "renal failure\t1\tD051437" in capsys.readouterr().out
    folder = tmp_path / "saved"
    save_encoder(load_encoder(device="cpu"), folder)  # no record: the pooling must be given
    assert L.main([*args, "--model", str(folder)]) == 2
    assert "No recorded pooling" in capsys.readouterr().err
    assert L.main([*args, "--model", str(folder), "--pooling", "mean", "--top-k", "1"]) == 0
    assert "D051437" in capsys.readouterr().out
    save_encoder(load_encoder(device="cpu"), folder, pooling="mean")
    assert L.model_pooling(str(folder)) == "mean"
    assert L.main([*args, "--linker", "tfidf", "--out", str(tmp_path / "no" / "links.tsv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        L.main([*args, "--top-k", "0"])
    assert "must be at least 1" in capsys.readouterr().err


def test_train_command_without_synonyms_is_a_clear_error(tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("D001943\tBreast Neoplasms\nD051437\tKidney Failure\n")
    assert L.main(["train", "--pairs", str(pairs), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 2
    assert "has no synonyms" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    pairs.write_text("D001943\tBreast Neoplasms\nD001943\tbreast cancer\n")
    assert L.main(["train", "--pairs", str(pairs), "--out", str(tmp_path / "out"), "--dictionary-negatives", "2"]) == 2
    assert "needs a --dictionary" in capsys.readouterr().err
    import torch

    if not torch.cuda.is_available():
        assert L.main(["train", "--pairs", str(pairs), "--out", str(tmp_path / "out"), "--device", "cuda"]) == 2
        assert "--device 'cuda'" in capsys.readouterr().err
