"""Contextual word vectors for chapter 10: one word in sentences of its different senses, the cosine matrix,
within- and across-sense similarity, and its plot (chapter 10).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .mlm_data import MlmError, WordNotInSentenceError

# --------------------------------------------------------------------------------------------------------------
# Contextual vectors: one word, several senses


__all__ = ["SENSE_SENTENCES", "contextual_word_vectors", "sense_vectors", "cosine_matrix", "within_across", "sense_table",
           "plot_sense_similarity"]

SENSE_SENTENCES: dict[str, dict[str, tuple[str, ...]]] = {
    "cold": {
        "low temperature": (
            "Store the vaccine vials in a cold room at four degrees.",
            "The patient's hands were cold and pale after hours in the snow.",
            "Samples must travel on ice to keep the chain cold until the laboratory.",
            "Cold water immersion lowered his core temperature quickly.",
            "The ward was cold because the heating failed overnight.",
            "Apply a cold pack to the swollen ankle for twenty minutes.",
        ),
        "viral illness": (
            "She caught a cold from her son and had a runny nose for a week.",
            "The common cold is caused by rhinoviruses in most adults.",
            "Zinc lozenges may shorten a cold by a day or two.",
            "He stayed home from school with a cold and a sore throat.",
            "A cold usually resolves without antibiotics within ten days.",
            "Children get six to eight colds a year; this cold was her third since autumn.",
        ),
    },
    "culture": {
        "microbial growth": (
            "The blood culture grew Staphylococcus aureus after two days.",
            "A urine culture was sent before starting antibiotics.",
            "The sputum culture was negative for tuberculosis.",
            "Cells were kept in culture for three weeks before the assay.",
            "The wound swab culture showed a mixed growth of skin flora.",
            "Repeat the culture if the fever persists after treatment.",
        ),
        "shared customs": (
            "Hospital culture shapes how nurses speak up about errors.",
            "The culture of the village valued care for the elderly at home.",
            "Food culture differs widely between the north and the south.",
            "A culture of safety takes years to build in a clinic.",
            "Her thesis studied youth culture and music in the city.",
            "Respect for elders is central to their culture and religion.",
        ),
    },
    "positive": {
        "test result": (
            "The rapid antigen test was positive for influenza A.",
            "Her PCR came back positive, so she isolated for five days.",
            "A positive tuberculin skin test needs a chest radiograph.",
            "The tumour was positive for the oestrogen receptor.",
            "Three of the ten contacts tested positive on day seven.",
            "A positive blood culture prompted a switch of antibiotics.",
        ),
        "hopeful attitude": (
            "He stayed positive and cheerful throughout the long rehabilitation.",
            "A positive outlook helped her cope with the diagnosis.",
            "The team gave positive feedback on the new rota.",
            "Patients described the visit as a positive experience overall.",
            "Try to keep a positive attitude on the difficult days.",
            "Her positive mood lifted the whole family.",
        ),
    },
    "discharge": {
        "leaving hospital": (
            "The patient was ready for discharge on the third day after surgery.",
            "Discharge planning should start at admission.",
            "He received a discharge letter for his general practitioner.",
            "Early discharge home reduced the length of stay.",
            "The nurse explained the medicines before discharge from the ward.",
            "Readmission within thirty days of discharge was recorded.",
        ),
        "fluid from the body": (
            "She reported a green vaginal discharge and itching.",
            "A purulent discharge from the ear suggested otitis externa.",
            "Nipple discharge with blood needs further imaging.",
            "The wound had a foul-smelling discharge on the fifth day.",
            "Watery discharge from the eyes is common in conjunctivitis.",
            "Urethral discharge was swabbed for gonorrhoea.",
        ),
    },
}


def contextual_word_vectors(sentences: Sequence[str], word: str, *, tokenizer: Any, model: Any,
                            device: Any = None, max_length: int = 128) -> np.ndarray:
    """Return one vector per sentence for ``word`` in its context: the encoder's last-layer states of the word's
    WordPieces, averaged (chapter 10). Array (n_sentences, hidden), float32.

    The word is found as a whole word (case-insensitive, first occurrence); its pieces are the tokens whose
    character offsets fall inside it, so "discharge" split into several pieces still gets one vector.
    """
    import torch

    pattern = re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])", re.IGNORECASE)
    spans = []
    for i, sentence in enumerate(sentences):
        found = pattern.search(sentence)
        if found is None:
            raise WordNotInSentenceError(f"Sentence {i} does not contain the word {word!r}: {sentence!r}. "
                                         "Fix the sentence or the word.")
        spans.append(found.span())
    if device is None:
        device = next(model.parameters()).device
    enc = tokenizer(list(sentences), return_offsets_mapping=True, padding=True, truncation=True,
                    max_length=max_length, return_tensors="pt")
    offsets = enc.pop("offset_mapping")
    with torch.no_grad():
        states = model(**{k: v.to(device) for k, v in enc.items()}).last_hidden_state.float().cpu()
    vectors = np.zeros((len(sentences), states.shape[-1]), dtype=np.float32)
    for i, (start, end) in enumerate(spans):
        starts, ends = offsets[i, :, 0], offsets[i, :, 1]
        pieces = (ends > starts) & (starts >= start) & (ends <= end)
        if not bool(pieces.any()):
            raise WordNotInSentenceError(f"Sentence {i}: the word {word!r} was cut off by max_length={max_length}.")
        vectors[i] = states[i, pieces].mean(0).numpy()
    return vectors


def sense_vectors(word: str, *, tokenizer: Any, model: Any,
                  sentences: Mapping[str, Sequence[str]] | None = None) -> tuple[np.ndarray, list[str]]:
    """Return (vectors, sense label per row) for ``word`` over its sentences, sense by sense (chapter 10)."""
    by_sense = sentences if sentences is not None else SENSE_SENTENCES[word]
    texts, labels = [], []
    for sense, group in by_sense.items():
        texts.extend(group)
        labels.extend([sense] * len(group))
    return contextual_word_vectors(texts, word, tokenizer=tokenizer, model=model), labels


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """Return the matrix of cosine similarities between the rows of ``vectors`` (chapter 10)."""
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise MlmError("A zero vector has no cosine similarity; check the vectors passed to cosine_matrix.")
    unit = v / norms
    return unit @ unit.T


def within_across(vectors: np.ndarray, labels: Sequence[str]) -> tuple[float, float]:
    """Return (mean cosine within a sense, mean cosine across senses) over pairs of distinct rows (chapter 10).

    A row is never paired with itself (its cosine of 1 would inflate "within").
    """
    sims = cosine_matrix(vectors)
    lab = np.asarray(labels)
    same = lab[:, None] == lab[None, :]
    off_diagonal = ~np.eye(len(lab), dtype=bool)
    if not (same & off_diagonal).any() or not (~same).any():
        raise MlmError("within_across needs at least two senses and two sentences of one sense.")
    return float(sims[same & off_diagonal].mean()), float(sims[~same].mean())


def sense_table(tokenizer: Any, model: Any, words: Sequence[str] | None = None,
                sentences: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> Any:
    """Return a DataFrame, one row per word: its senses, sentence count, mean cosine within a sense and across
    senses, their gap, and the share of sentences whose nearest other sentence has the same sense (chapter 10)."""
    import pandas as pd

    source = sentences if sentences is not None else SENSE_SENTENCES
    rows = []
    for word in words if words is not None else list(source):
        vectors, labels = sense_vectors(word, tokenizer=tokenizer, model=model, sentences=source[word])
        within, across = within_across(vectors, labels)
        sims = cosine_matrix(vectors)
        np.fill_diagonal(sims, -np.inf)
        nearest = sims.argmax(1)
        same = float(np.mean([labels[i] == labels[j] for i, j in enumerate(nearest)]))
        rows.append({"word": word, "senses": " / ".join(dict.fromkeys(labels)), "sentences": len(labels),
                     "cosine within a sense": within, "cosine across senses": across, "gap": within - across,
                     "nearest sentence same sense": same})
    return pd.DataFrame(rows).set_index("word")


def plot_sense_similarity(vectors: np.ndarray, labels: Sequence[str], word: str) -> Any:
    """Return a matplotlib figure: the cosine matrix of one word's contextual vectors, senses in blocks (chapter 10)."""
    import matplotlib.pyplot as plt

    from ..plotting import apply_style

    apply_style()
    sims = cosine_matrix(vectors)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    image = ax.imshow(sims, cmap="viridis", vmin=float(np.min(sims)), vmax=1.0)
    senses = list(dict.fromkeys(labels))
    bounds = [labels.index(s) for s in senses[1:]]
    for b in bounds:
        ax.axhline(b - 0.5, color="white", lw=1.5)
        ax.axvline(b - 0.5, color="white", lw=1.5)
    centres = [np.mean([i for i, lab in enumerate(labels) if lab == s]) for s in senses]
    ax.set_xticks(centres, senses)
    ax.set_yticks(centres, senses, rotation=90, va="center")
    ax.set_title(f"'{word}': cosine between contextual vectors (MiniLM)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="cosine")
    fig.tight_layout()
    return fig
