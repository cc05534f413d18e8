"""Tests of course_utils.text.corpus (chapter 7): the synthetic corpus and the structure planted in it."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from course_utils.errors import CourseError
from course_utils.text.corpus import (
    ABBREVIATIONS,
    TRICKY_STRINGS,
    CorpusError,
    Document,
    SyntheticCorpus,
    corpus_documents,
    synthetic_corpus,
)
from course_utils.text.readers import clean_text
from course_utils.text.tokenize import words


@pytest.fixture(scope="module")
def corpus() -> SyntheticCorpus:
    return synthetic_corpus(2000)


@pytest.fixture(scope="module")
def counts(corpus: SyntheticCorpus) -> Counter[str]:
    out: Counter[str] = Counter()
    for text in corpus.texts():
        out.update(words(text))
    return out


def test_document_text_is_title_space_abstract() -> None:
    assert Document("a", "Title", "Abstract.").text == "Title Abstract."
    assert Document("b", "Title only", "").text == "Title only "  # the seed's space for a missing field


def test_deterministic_fast_and_seeded() -> None:
    start = time.perf_counter()
    a = synthetic_corpus(3000, seed=7)
    assert time.perf_counter() - start < 10  # about a second alone; the shared machine is slower
    b = synthetic_corpus(3000, seed=7)
    assert a.documents == b.documents
    assert len(a.documents) == 3000
    assert synthetic_corpus(50, seed=8).documents != a.documents[:50]
    assert a.seed == 7 and a.domain == 0 and not a.defects


def test_bad_arguments_raise_course_errors() -> None:
    with pytest.raises(CorpusError, match="at least one document"):
        synthetic_corpus(0)
    with pytest.raises(CourseError, match="domains 0"):
        synthetic_corpus(10, domain=2)


def test_categories_are_single_tokens_with_frequent_and_rare_members(corpus: SyntheticCorpus, counts: Counter[str]) -> None:
    assert {"virus", "symptom", "drug", "gene", "organ"} <= set(corpus.categories)
    for name, members in corpus.categories.items():
        rare = [m for m in members if m in corpus.rare_words]
        frequent = [m for m in members if m not in corpus.rare_words]
        assert rare and len(frequent) >= 6, name
        for m in members:
            assert words(m) == [m], m  # one lower-case token of the course tokenizer
            assert counts[m] >= 1, m
        top = max(counts[m] for m in frequent)
        assert top >= 300, name
        for m in rare:
            assert counts[m] < top / 8, (name, m, counts[m], top)
    assert corpus.rare_words <= {m for ms in corpus.categories.values() for m in ms}


def test_members_follow_zipf_within_their_category(corpus: SyntheticCorpus, counts: Counter[str]) -> None:
    for name in ("virus", "organ", "cell"):
        frequent = [m for m in corpus.categories[name] if m not in corpus.rare_words]
        assert counts[frequent[0]] > 2 * counts[frequent[-1]], name


def test_tricky_strings_and_abbreviations_appear(corpus: SyntheticCorpus) -> None:
    text = "\n".join(corpus.texts())
    for s in TRICKY_STRINGS[:-1]:
        assert s in text, s
    assert "2–14" in text and "&ndash;" not in text  # clean unless defects=True
    for abbr, long_form in ABBREVIATIONS.items():
        assert f"{long_form} ({abbr})" in text, abbr
    assert corpus.abbreviations == ABBREVIATIONS


def test_planted_cooccurrences_far_above_chance(corpus: SyntheticCorpus) -> None:
    # in the same sentence far more often than chance (document-level co-occurrence of frequent words is common)
    sents = [set(words(s)) for t in corpus.texts() for s in t.split(". ")]
    m = len(sents)
    for a, b in corpus.cooccurrences:
        pa, pb = sum(a in s for s in sents) / m, sum(b in s for s in sents) / m
        pab = sum(a in s and b in s for s in sents) / m
        assert pab > 3 * pa * pb, (a, b, pab, pa * pb)


def test_synonyms_share_contexts(corpus: SyntheticCorpus, counts: Counter[str]) -> None:
    common = {w for w, _ in counts.most_common(60)}  # function words and frame words say little
    context: dict[str, Counter[str]] = {}
    for text in corpus.texts():
        tokens = words(re.sub(r"\([A-Z0-9-]+\)", " ", text))  # leave out "long form (ABBR)" definitions
        for i, word in enumerate(tokens):
            for c in tokens[max(0, i - 3) : i] + tokens[i + 1 : i + 4]:
                if c not in common:
                    context.setdefault(word, Counter())[c] += 1

    def cosine(a: Counter[str], b: Counter[str]) -> float:
        dot = sum(a[k] * b[k] for k in a)
        return dot / (np.sqrt(sum(v * v for v in a.values())) * np.sqrt(sum(v * v for v in b.values())))

    for head, *others in corpus.synonyms:
        category = corpus.category_of(head)
        outsiders = [m for c, ms in corpus.categories.items() if c != category for m in ms if m not in corpus.rare_words]
        for other in others:
            assert corpus.category_of(other) == category
            same = cosine(context[other], context[head])
            assert same > 0.2, (head, other, same)
            outside = np.mean([cosine(context[other], context[m]) for m in outsiders])
            assert same > outside + 0.15, (head, other, same, outside)


def test_zipf_heaps_and_hapaxes(counts: Counter[str], corpus: SyntheticCorpus) -> None:
    freqs = np.array(sorted(counts.values(), reverse=True), dtype=float)
    ranks = np.arange(1, len(freqs) + 1)
    sel = slice(9, 3000)
    slope, intercept = np.polyfit(np.log(ranks[sel]), np.log(freqs[sel]), 1)
    fitted = slope * np.log(ranks[sel]) + intercept
    r2 = 1 - np.var(np.log(freqs[sel]) - fitted) / np.var(np.log(freqs[sel]))
    assert -2.2 < slope < -0.9 and r2 > 0.9, (slope, r2)
    hapax = sum(1 for v in counts.values() if v == 1) / len(counts)
    assert 0.3 < hapax < 0.75, hapax
    # Heaps: types keep growing, sub-linearly
    tokens = [w for t in corpus.texts() for w in words(t)]
    quarter = len(set(tokens[: len(tokens) // 4]))
    full = len(set(tokens))
    assert 1.3 < full / quarter < 4.0, (quarter, full)


def _neighbour_purity(matrix: np.ndarray, vocab: list[str], corpus: SyntheticCorpus, k: int = 5) -> float:
    u, s, _ = svds(sp.csr_matrix(matrix), k=30, random_state=0)
    emb = u * s
    emb /= np.linalg.norm(emb, axis=1, keepdims=True).clip(1e-12)
    index = {w: i for i, w in enumerate(vocab)}
    scores = []
    for name, members in corpus.categories.items():
        for m in members:
            if m in corpus.rare_words or m not in index:
                continue
            sims = emb @ emb[index[m]]
            sims[index[m]] = -np.inf
            top = np.argsort(-sims)[:k]
            scores.append(np.mean([corpus.category_of(vocab[t]) == name for t in top]))
    return float(np.mean(scores))


def test_categories_recoverable_by_count_vectors_ppmi_beats_raw() -> None:
    corpus = synthetic_corpus(1500)
    tokens = [w for t in corpus.texts() for w in words(t)]
    counts = Counter(tokens)
    vocab = sorted(w for w, c in counts.items() if c >= 3)
    index = {w: i for i, w in enumerate(vocab)}
    ids = np.array([index.get(w, -1) for w in tokens])
    rows, cols = [], []
    for shift in range(1, 5):
        a, b = ids[:-shift], ids[shift:]
        keep = (a >= 0) & (b >= 0)
        rows += [a[keep], b[keep]]
        cols += [b[keep], a[keep]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    size = len(vocab)
    cooc = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(size, size)).toarray()
    total = cooc.sum()
    pw = cooc.sum(1) / total
    pc = cooc.sum(0) ** 0.75
    pc /= pc.sum()
    with np.errstate(divide="ignore"):
        pmi = np.log(cooc / total / np.outer(pw, pc))
    ppmi = np.where(np.isfinite(pmi), np.maximum(pmi, 0), 0)
    raw, good = _neighbour_purity(cooc, vocab, corpus), _neighbour_purity(ppmi, vocab, corpus)
    assert good > 0.85, good
    assert good > raw + 0.03, (good, raw)


def test_defects_are_the_seeds_and_clean_text_repairs_them() -> None:
    c = synthetic_corpus(400, defects=True)
    texts = c.texts()
    joined = "\n".join(texts)
    assert "&ndash;" in joined and "&amp;" in joined and "&lt;" in joined
    assert "\r\n" in joined
    ids = [d.doc_id for d in c.documents]
    assert c.n_duplicates == len(ids) - len(set(ids)) > 0
    assert c.n_missing_abstracts == sum(not d.abstract for d in c.documents) > 0
    assert c.n_missing_titles == sum(not d.title for d in c.documents) > 0
    cleaned = clean_text(joined)
    assert "&ndash;" not in cleaned and "\r" not in cleaned and "2–14" in cleaned
    # the same seed without defects is the clean corpus
    clean = synthetic_corpus(400)
    assert "&ndash;" not in "\n".join(clean.texts())


def test_domain_shift_same_vocabulary_other_templates_and_frequencies() -> None:
    d0, d1 = synthetic_corpus(800, domain=0), synthetic_corpus(800, domain=1)
    assert d0.categories == d1.categories and d1.domain == 1
    c0 = Counter(w for t in d0.texts() for w in words(t))
    c1 = Counter(w for t in d1.texts() for w in words(t))
    # the same members occur in both domains, with other frequencies
    for members in d0.categories.values():
        frequent = [m for m in members if m not in d0.rare_words]
        assert all(c1[m] > 0 for m in frequent)
        assert max(frequent, key=c0.__getitem__) != max(frequent, key=c1.__getitem__)
    # other templates: few word bigrams in common beyond the shared ones
    def bigrams(c: SyntheticCorpus) -> set[tuple[str, str]]:
        out = set()
        for t in c.texts():
            tok = words(t)
            out.update(zip(tok, tok[1:], strict=False))
        return out
    b0, b1 = bigrams(d0), bigrams(d1)
    assert len(b0 & b1) / len(b0 | b1) < 0.3


@dataclass(frozen=True)
class _Settings:
    corpus: str
    max_documents: int | None
    seed: int = 1234


def test_corpus_documents_follows_the_settings() -> None:
    docs = corpus_documents(_Settings("synthetic", 120, seed=3))
    assert len(docs) == 120 and docs == list(synthetic_corpus(120, seed=3).documents)
    with pytest.raises(CorpusError, match="Unknown corpus"):
        corpus_documents(_Settings("pubmed", 10))


def test_corpus_documents_for_each_profile_of_chapter_7() -> None:
    from course_utils.profiles import chapter_settings

    smoke = chapter_settings(7, "smoke")
    docs = corpus_documents(smoke)
    assert smoke.corpus == "synthetic" and len(docs) == (smoke.max_documents or 2000)


def test_corpus_documents_cord19_reads_the_fetched_file_up_to_max_documents(tmp_path, monkeypatch) -> None:
    """Lab/full (chapters 7-11): the fetched cord19/metadata.csv, cleaned and de-duplicated; with max_documents the
    first documents of the whole file, the rest of the file left unread (a broken row after them is never seen)."""
    folder = tmp_path / "cord19"
    folder.mkdir()
    rows = ["cord_uid,title,abstract,doi",
            "a1,Fever in children,Fever &amp; cough.,10.1/a",
            "a1,Fever in children,Fever &amp; cough.,10.1/a",  # duplicate cord_uid: dropped
            "b2,,,",  # neither title nor abstract: dropped
            "c3,Influenza,Influenza A in adults.,10.1/c",
            "d4,Lungs,Lung injury.,10.1/d"]
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    (folder / ".course-complete").write_text("{}")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    whole = corpus_documents(_Settings("cord19", None))
    assert [d.doc_id for d in whole] == ["a1", "c3", "d4"] and whole[0].abstract == "Fever & cough."
    with (folder / "metadata.csv").open("a") as handle:
        handle.write('e5,"broken\n')  # a broken row past the first two documents
    first = corpus_documents(_Settings("cord19", 2))
    assert first == whole[:2]


@pytest.mark.real_data
def test_corpus_documents_real(real_data) -> None:
    docs = corpus_documents(_Settings("real", None), real_data=real_data)
    assert len(docs) == 3070


def test_corpus_statistics_on_a_known_text() -> None:
    from course_utils.text.corpus import corpus_statistics

    st = corpus_statistics(["a b a c", "", "b a d"], points=7)
    assert (st.documents, st.empty_documents, st.tokens, st.types, st.hapaxes) == (3, 1, 7, 4, 2)
    assert st.frequencies == (3, 2, 1, 1) and st.top[0] == ("a", 3)
    assert st.heaps_tokens == (1, 2, 3, 4, 5, 6, 7) and st.heaps_types == (1, 2, 2, 3, 3, 3, 4)
    assert st.hapax_share == 0.5 and st.type_token_ratio == 4 / 7
    assert st.as_row()["types"] == 4


def test_corpus_statistics_of_the_synthetic_corpus_look_like_text(corpus: SyntheticCorpus) -> None:
    from course_utils.text.corpus import corpus_statistics, plot_zipf_heaps

    st = corpus_statistics(corpus.texts())
    assert -1.6 < st.zipf_slope < -0.9  # the real CORD-19 sample: about -1.0
    assert 0.4 < st.heaps_beta < 0.8  # the real sample: about 0.6
    fig = plot_zipf_heaps({"synthetic": st})
    assert len(fig.axes) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_seed_text_file_keeps_the_seeds_choices() -> None:
    from course_utils.text.corpus import seed_text_file

    docs = [Document("1", "T1", "A &amp; B"), Document("2", "T2", "")]
    assert seed_text_file(docs) == "T1\r\nA &amp; B\r\nT2\r\n "
