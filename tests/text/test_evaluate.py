"""Chapter 11: Spearman, bootstrap intervals, comparison on common pairs, WordPiece pooling, word classes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from course_utils.text import evaluate as E
from course_utils.text.vectors import WordVectors


def _vectors(words: dict[str, list[float]], name: str = "toy") -> WordVectors:
    return WordVectors(tuple(words), np.array(list(words.values()), dtype=np.float32), name)


def test_ranks_average_ties_like_scipy():
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0]
    np.testing.assert_allclose(E.rank_average(values), rankdata(values))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spearman_equals_scipy_on_a_toy_set_with_ties(seed):
    rng = np.random.default_rng(seed)
    human = rng.integers(0, 6, size=40).astype(float)  # ratings with many ties
    model = human + rng.normal(0, 2, size=40)
    model[:5] = model[0]  # ties on the model side too
    assert E.spearman(human, model) == pytest.approx(spearmanr(human, model).statistic, abs=1e-12)


def test_spearman_edge_cases():
    assert E.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert E.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(E.spearman([1, 2], [1, 2]))
    assert np.isnan(E.spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(E.EvaluationError, match="equal length"):
        E.spearman([1, 2, 3], [1, 2])


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_n():
    rng = np.random.default_rng(3)
    x = rng.normal(size=800)
    y = x + rng.normal(0, 1.5, size=800)
    widths = []
    for n in (30, 120, 800):
        rho = E.spearman(x[:n], y[:n])
        low, high = E.bootstrap_interval(x[:n], y[:n], n_boot=400, seed=1)
        assert low <= rho <= high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] > 2.5 * widths[2]  # about sqrt(800 / 30) = 5.2 times narrower; ask for half of that
    assert E.bootstrap_interval(x[:800], y[:800], n_boot=200, seed=1) == E.bootstrap_interval(x[:800], y[:800], n_boot=200, seed=1)


def test_static_encoder_covers_words_and_averages_phrases():
    vecs = _vectors({"renal": [1, 0, 0], "failure": [0, 1, 0], "kidney": [1, 1, 0]})
    out, covered = E.StaticEncoder(vecs).encode(["Renal", "renal failure", "liver failure", "kidney"])
    assert covered.tolist() == [True, True, False, True]
    np.testing.assert_allclose(out[1], [0.5, 0.5, 0.0])
    assert not out[2].any()


def test_compare_similarity_scores_every_method_on_the_common_pairs():
    pairs = [("a", "b", 3.0), ("a", "c", 2.0), ("b", "c", 1.0), ("a", "d", 0.5), ("c", "e", 0.0), ("b", "zzz", 1.0)]
    rng = np.random.default_rng(0)
    big = _vectors({w: rng.normal(size=4).tolist() for w in "abcde"}, "big")
    small = _vectors({w: rng.normal(size=4).tolist() for w in "abcd"}, "small")  # lacks "e"
    table = E.compare_similarity([E.StaticEncoder(big), E.StaticEncoder(small)], {"toy": pairs}, n_boot=50)
    assert table.loc[("toy", "big"), "covered"] == 5 and table.loc[("toy", "small"), "covered"] == 4
    assert table.loc[("toy", "big"), "coverage"] == pytest.approx(5 / 6)
    assert set(table["common pairs"]) == {4}
    common = pairs[:4]
    cos = [float(big.unit_vector(a) @ big.unit_vector(b)) for a, b, _ in common]
    expected = spearmanr([p[2] for p in common], cos).statistic
    assert table.loc[("toy", "big"), "rho (common)"] == pytest.approx(expected, abs=1e-6)


def test_paired_bootstrap_difference_equals_a_direct_computation():
    """Same draws for both methods: the interval is the percentiles of scipy's rho(A) - rho(B) on each resample."""
    rng = np.random.default_rng(3)
    human = rng.normal(size=60)
    a = human + rng.normal(scale=0.8, size=60)
    b = human + rng.normal(scale=2.0, size=60)
    diff, low, high = E.paired_bootstrap_difference(human, a, b, n_boot=300, seed=7)
    assert diff == pytest.approx(spearmanr(human, a).statistic - spearmanr(human, b).statistic, abs=1e-12)
    draws = np.random.default_rng(7).integers(0, 60, size=(300, 60))
    direct = [spearmanr(human[d], a[d]).statistic - spearmanr(human[d], b[d]).statistic for d in draws]
    assert (low, high) == pytest.approx(tuple(np.percentile(direct, [2.5, 97.5])), abs=1e-12)
    # pairing removes what both share: the paired interval is narrower than the two marginal intervals combined
    marginal_a = E.bootstrap_interval(human, a, n_boot=300, seed=7)
    marginal_b = E.bootstrap_interval(human, b, n_boot=300, seed=7)
    assert high - low < (marginal_a[1] - marginal_a[0]) + (marginal_b[1] - marginal_b[0])
    assert E.paired_bootstrap_difference(human, a, a, n_boot=50) == (0.0, 0.0, 0.0)
    with pytest.raises(E.EvaluationError, match="same pairs"):
        E.paired_bootstrap_difference(human, a, b[:-1])


def test_paired_differences_compares_methods_on_the_common_pairs():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    truth = {w: rng.normal(size=6) for w in words}
    good = _vectors({w: (v + rng.normal(scale=0.1, size=6)).tolist() for w, v in truth.items()}, "good")
    noisy = _vectors({w: rng.normal(size=6).tolist() for w in words[:-1]}, "noisy")  # lacks the last word
    pairs = []
    for _ in range(80):
        x, y = rng.choice(30, size=2, replace=False)
        u, v = truth[words[x]], truth[words[y]]
        pairs.append((words[x], words[y], float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))))
    encoders = [E.StaticEncoder(good), E.StaticEncoder(noisy)]
    scored = E.score_sets(encoders, {"toy": pairs})
    table = E.paired_differences(encoders, {"toy": pairs}, n_boot=200, seed=1, scored=scored)
    row = table.loc[("toy", "good", "noisy")]
    similarity = E.compare_similarity(encoders, {"toy": pairs}, n_boot=200, seed=1, scored=scored)
    assert row["rho A - rho B"] == pytest.approx(similarity.loc[("toy", "good"), "rho (common)"]
                                                 - similarity.loc[("toy", "noisy"), "rho (common)"])
    assert row["common pairs"] == similarity.loc[("toy", "good"), "common pairs"] < 80
    assert row["low"] > 0 and bool(row["excludes 0"])
    with pytest.raises(E.EvaluationError, match="no method named"):
        E.paired_differences(encoders, {"toy": pairs}, pairs_of_methods=[("good", "bad")], scored=scored)


def test_malformed_pair_names_the_set_and_position():
    with pytest.raises(E.EvaluationError, match=r"UMNSRS-sim, pair 1"):
        E.score_pairs(E.StaticEncoder(_vectors({"a": [1.0]})), [("a", "a", 1.0), ("a",)], set_name="UMNSRS-sim")


def test_neighbour_purity_known_answers():
    rng = np.random.default_rng(0)
    centres = np.eye(4) * 10
    labels = np.repeat(list("wxyz"), 15)
    x = centres[np.repeat(np.arange(4), 15)] + rng.normal(0, 0.1, size=(60, 4))
    assert E.neighbour_purity(x, labels, k=5) == pytest.approx(1.0)
    shuffled = rng.permutation(labels)
    chance = E.chance_purity(labels)  # 14 / 59
    assert abs(E.neighbour_purity(x, shuffled, k=5) - chance) < 0.12


def test_compare_categories_on_common_words():
    good = _vectors({"red": [1, 0.1], "blue": [1, 0.0], "green": [1, -0.1], "liver": [0, 1], "lung": [0.1, 1],
                     "heart": [-0.1, 1]}, "good")
    cats = {"colour": ("Red", "blue", "green"), "organ": ("liver", "lung", "heart", "spleen")}
    table = E.compare_categories([E.StaticEncoder(good)], cats, k=2)
    assert table.loc["good", "covered"] == 6 and table.loc["good", "words"] == 7
    assert table.loc["good", "purity@2 (common)"] == pytest.approx(1.0)
    assert table.loc["good", "silhouette (common)"] > 0.8


def test_contextual_encoder_pools_the_pieces_of_a_word():
    from course_utils.text.pretrained import load_encoder

    tokenizer, model = load_encoder("minilm", device="cpu")
    word = "hydroxychloroquine"
    pieces = E.wordpiece_split(tokenizer, word)
    assert len(pieces) > 1 and pieces[1].startswith("##")
    enc = E.ContextualEncoder(tokenizer, model, "MiniLM")
    vecs, covered = enc.encode([word, "fever"])
    assert covered.all() and vecs.shape == (2, 384)
    import torch

    with torch.inference_mode():
        hidden = model(**tokenizer([word], return_tensors="pt")).last_hidden_state[0]
    np.testing.assert_allclose(vecs[0], hidden[1:-1].mean(0).numpy(), atol=1e-5)  # [CLS] and [SEP] left out
    first, _ = E.ContextualEncoder(tokenizer, model, pooling="first").encode([word])
    np.testing.assert_allclose(first[0], hidden[1].numpy(), atol=1e-5)
    sentence, _ = E.ContextualEncoder(tokenizer, model, pooling="sentence").encode([word])
    np.testing.assert_allclose(sentence[0], hidden.mean(0).numpy(), atol=1e-5)
    with pytest.raises(E.EvaluationError, match="Unknown pooling"):
        E.ContextualEncoder(tokenizer, model, pooling="max")


def test_read_word_classes(tmp_path):
    (tmp_path / "colour.txt").write_text("red\n\nblue\n")
    (tmp_path / "README").write_text("not a class")
    assert E.read_word_classes(tmp_path) == {"colour": ("red", "blue")}
    with pytest.raises(E.EvaluationError, match="no <class>.txt"):
        E.read_word_classes(tmp_path / "missing")


def test_planted_pairs_grade_synonyms_categories_and_unrelated():
    class Corpus:
        categories = {"drug": ("aspirin", "ibuprofen", "heparin"), "organ": ("liver", "kidney")}
        synonyms = {"kidney": "renal"}

    pairs = E.planted_pairs(Corpus(), n_unrelated=10, seed=0)
    grades = {tuple(sorted(p[:2])): p[2] for p in pairs}
    assert grades[("kidney", "renal")] == 2.0
    assert grades[("aspirin", "heparin")] == 1.0 and grades[("kidney", "liver")] == 1.0
    assert all(g == 0.0 for k, g in grades.items() if (k[0] in Corpus.categories["drug"]) != (k[1] in Corpus.categories["drug"]) and "renal" not in k)
    assert len(grades) == len(pairs)


@pytest.mark.real_data
def test_real_word_classes(real_data):
    classes = E.read_word_classes(real_data / "word_classes")
    assert len(classes) == 12 and sum(len(v) for v in classes.values()) == 116
    assert "penicillin" in classes["antibiotic"]


# --- chapter 11 exercises ---------------------------------------------------------------------------------------


def test_exercise_spearman_solution_and_wrong_answers():
    from scipy.stats import pearsonr

    from course_utils.exercises import ch11

    assert ch11.check_spearman(ch11.spearman_solution).correct
    assert ch11.check_spearman(lambda h, m: None).status == "not attempted yet"
    pearson = ch11.check_spearman(lambda h, m: pearsonr(h, m).statistic)
    assert not pearson.correct and "Pearson" in pearson.message
    ordinal = ch11.check_spearman(ch11._ordinal_spearman)
    assert not ordinal.correct and "mean of the ranks" in ordinal.message


def test_exercise_knn_recall_solution_and_wrong_answers():
    from course_utils.exercises import ch11

    assert ch11.check_knn_recall(ch11.knn_recall_solution).correct
    assert ch11.check_knn_recall(lambda h, low, k: None).status == "not attempted yet"

    def counts_itself(high, low, k):
        return (ch11.knn_recall_solution(high, low, k) * k + 1) / (k + 1)

    assert "itself" in ch11.check_knn_recall(counts_itself).message
    assert "divide by k" in ch11.check_knn_recall(lambda h, low, k: ch11.knn_recall_solution(h, low, k) * k).message
    assert "raised ZeroDivisionError" in ch11.check_knn_recall(lambda h, low, k: 1 / 0).message


def test_evaluation_data_in_smoke_uses_the_planted_structure():
    from course_utils.text.corpus import synthetic_corpus

    corpus = synthetic_corpus(50)
    data = E.evaluation_data("smoke", corpus=corpus)
    assert list(data.sets) == ["planted pairs"] and data.categories == dict(corpus.categories)
    grades = {p[2] for p in data.sets["planted pairs"]}
    assert grades == {0.0, 1.0, 2.0}
    with pytest.raises(E.EvaluationError, match="pass corpus="):
        E.evaluation_data("smoke")
    with pytest.raises(E.EvaluationError, match="lacks the similarity set"):
        E.evaluation_data("lab", root="/nonexistent")


@pytest.mark.real_data
def test_evaluation_data_on_the_real_sets(real_data):
    data = E.evaluation_data("lab", root=real_data)
    assert {n: len(p) for n, p in data.sets.items()} == {"UMNSRS-sim": 566, "UMNSRS-rel": 587, "MayoSRS": 101,
                                                          "Bio-SimLex": 988}
    assert len(data.categories) == 12


def _manifest_layout(root):
    """A COURSE_DATA_DIR as `python -m course_utils.data fetch umnsrs mayosrs bio_simlex word_classes` lays it out,
    three-line fixtures in each manifest's own format, each folder marked complete as fetch marks it."""
    from course_utils.data import load_manifest
    from course_utils.data.store import _write_marker

    files = {
        "umnsrs/UMNSRS_similarity.csv": '"Mean","Stdev","Term1","Term2","CUI1","CUI2"\n'
                                        '279,178.9,"Glaucoma","Fibrillation","C1","C2"\n'
                                        '1239.25,90.5,"Parasitemia","Malaria","C3","C4"\n',
        "umnsrs/UMNSRS_relatedness.csv": '"Mean","Stdev","Term1","Term2","CUI1","CUI2"\n'
                                         '1000,1,"Insulin","Diabetes","C5","C6"\n',
        "mayosrs/MayoSRS.gold": "4.0<>C7<>C8\n1.3<>C9<>C10\n",
        "mayosrs/MayoSRS.terms": "Diabetes<>Hyperglycemia\nRenal failure<>Kidney failure\n",
        "mayosrs/MiniMayoSRS.terms": "a<>b\n", "mayosrs/MiniMayoSRS.physicians": "1<>C1<>C2\n",
        "mayosrs/MiniMayoSRS.coders": "1<>C1<>C2\n",
        "bio_simlex/Bio-SimLex.txt": "therapy\ttreatment\t9.32\nvirus\tbacterium\t4.5\n",
        "word_classes/antibiotic.txt": "penicillin\nampicillin\n",
        "word_classes/tissue.txt": "muscle\nbone\n",
        "word_classes/README": "Biomedical domain word classes created by Tomoko Ohta.\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for name in E.EVALUATION_MANIFESTS:
        _write_marker(root / name, load_manifest(name))


def test_evaluation_data_in_lab_reads_the_manifests_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_REAL_DATA", "/nonexistent")  # never consulted without root=
    _manifest_layout(tmp_path)
    data = E.evaluation_data("lab")
    assert data.sets == {
        "UMNSRS-sim": [("glaucoma", "fibrillation", 279.0), ("parasitemia", "malaria", 1239.25)],
        "UMNSRS-rel": [("insulin", "diabetes", 1000.0)],
        "MayoSRS": [("diabetes", "hyperglycemia", 4.0), ("renal failure", "kidney failure", 1.3)],
        "Bio-SimLex": [("therapy", "treatment", 9.32), ("virus", "bacterium", 4.5)],
    }
    assert data.categories == {"antibiotic": ("penicillin", "ampicillin"), "tissue": ("muscle", "bone")}
    assert E.evaluation_data("full").sets == data.sets


def test_evaluation_data_in_lab_names_the_fetch_command(tmp_path, monkeypatch):
    from course_utils.errors import DataMissingError

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    _manifest_layout(tmp_path)
    import shutil

    shutil.rmtree(tmp_path / "mayosrs")
    with pytest.raises(DataMissingError, match="python -m course_utils.data fetch mayosrs"):
        E.evaluation_data("lab")


def test_word_classes_manifest_is_pinned_like_bio_simlex():
    from course_utils.data import load_manifest

    classes, simlex = load_manifest("word_classes"), load_manifest("bio_simlex")
    commit = simlex.files[0].url.split("/")[5]
    assert len(commit) == 40
    assert all(f.url.startswith(f"https://raw.githubusercontent.com/cambridgeltl/bio-simverb/{commit}/wvlib/word-classes/")
               for f in classes.files)
    assert {f.filename for f in classes.files} >= {"antibiotic.txt", "cell-type.txt", "tissue.txt", "README"}
    assert classes.status == "unverified" and all(f.checksum is None for f in classes.files)
    assert 11 in classes.chapters
