"""Named linker recipes (chapter 14): each linker the results page reports, fully stated, for the notebook, the
command (``link --recipe NAME``) and the benchmarks, and :func:`build_linker`, which builds one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .data import (
    Vocabulary,
)
from .rankers import (
    CombinedLinker,
    ContextLinker,
    DenseLinker,
    ExactMatchLinker,
    LinkingError,
    TfidfLinker,
    _resolve_pooling,
)

# ------------------------------------------------------------------------------------------------------------
# Recipes: each linker the results page reports, by name, for the notebook, the command and the benchmarks.


__all__ = ["LinkerRecipe", "RECIPES", "recipe", "build_linker"]


@dataclass(frozen=True)
class LinkerRecipe:
    """One linker, fully stated (chapter 14): what ``link --recipe NAME`` and the benchmarks build.

    ``kind``: exact, tfidf, dense or combined (dense + ``tfidf_weight`` x TF-IDF); ``model``: the encoder of dense
    and combined (a manifest name or a folder saved by ``train``; the self-aligned rows pass their folder);
    ``context``: wrap in :class:`ContextLinker` with ``prior`` and ``citation`` (needs mentions with their
    documents for the variants and cited ids, and the training annotations' ids for the prior).
    """

    name: str
    kind: str
    description: str
    model: str = "minilm"
    pooling: str = "auto"
    tfidf_weight: float = 0.25
    context: bool = False
    prior: float = 0.1
    citation: float = 0.1

    def with_options(self, **options: Any) -> "LinkerRecipe":
        """Return the recipe with the options that are not None replaced (``link``'s overriding options)."""
        from dataclasses import replace

        return replace(self, **{k: v for k, v in options.items() if v is not None})


_FOLDS = "chosen by two-fold cross-validation over NCBI-disease training documents"
#: The linkers of chapter 14's results page. The TF-IDF weight 0.25, the prior 0.1 and the citation bonus 0.1 were
#: chosen on training folds (``benchmarks/ch14_linking.py context-crossval``), never on develop.
RECIPES: dict[str, LinkerRecipe] = {r.name: r for r in (
    LinkerRecipe("exact", "exact", "exact match of the normalised mention"),
    LinkerRecipe("tfidf", "tfidf", "character 2-4-gram TF-IDF"),
    LinkerRecipe("tfidf+context", "tfidf", f"TF-IDF + context (the best baseline; prior and citation {_FOLDS})",
                 context=True),
    LinkerRecipe("dense", "dense", "encoder cosine (MiniLM unless --model)"),
    LinkerRecipe("dense+context", "dense", "encoder cosine + context", context=True),
    LinkerRecipe("dense+tfidf", "combined", f"encoder + 0.25 TF-IDF (weight {_FOLDS})"),
    LinkerRecipe("dense+tfidf+context", "combined",
                 f"encoder + 0.25 TF-IDF + context (the page's self-aligned rows with --model FOLDER; weight, prior "
                 f"and citation {_FOLDS})", context=True),
)}


def recipe(name: str, **options: Any) -> LinkerRecipe:
    """Return the recipe ``name`` of :data:`RECIPES` with ``options`` (not None) replacing its settings."""
    if name not in RECIPES:
        raise LinkingError(f"No linker recipe {name!r}; choose one of {', '.join(RECIPES)}.")
    return RECIPES[name].with_options(**options)


def build_linker(chosen: LinkerRecipe, dictionary: Vocabulary, *, encoder: Any = None,
                 known_ids: Iterable[str] = (), sparse: "TfidfLinker | None" = None, dense: "DenseLinker | None" = None,
                 device: Any = None, show_progress: bool = True) -> Any:
    """Return the linker a recipe names over ``dictionary`` (chapter 14: notebook, command and benchmarks).

    ``encoder``: an already loaded ``(tokenizer, model)`` (else ``chosen.model`` is loaded); ``known_ids``: the
    training annotations' ids, for the context prior; ``sparse`` and ``dense``: a TF-IDF linker and an embedded
    dense linker of the same dictionary to reuse (a benchmark scores several recipes on one embedding).
    """
    for given in (sparse, dense):
        if given is not None and given.vocabulary.names != dictionary.names:
            raise LinkingError(f"Recipe {chosen.name!r}: a linker to reuse must search the same dictionary.")
    if chosen.kind not in ("exact", "tfidf", "dense", "combined"):
        raise LinkingError(f"Recipe {chosen.name!r}: unknown kind {chosen.kind!r} (exact, tfidf, dense, combined).")
    if chosen.kind == "exact":
        if chosen.context:
            raise LinkingError(f"Recipe {chosen.name!r}: exact match has no scores to add context to.")
        return ExactMatchLinker(dictionary)
    tfidf = sparse if sparse is not None else (TfidfLinker(dictionary) if chosen.kind in ("tfidf", "combined")
                                               else None)
    if chosen.kind == "tfidf":
        base: Any = tfidf
    elif dense is not None:
        base = dense if chosen.kind == "dense" else CombinedLinker(dense, tfidf, chosen.tfidf_weight)
    else:
        how = _resolve_pooling(chosen.pooling, chosen.model)
        if encoder is None:
            from ...text.pretrained import load_encoder

            encoder = load_encoder(chosen.model, device=device)
        base = DenseLinker(dictionary, encoder, pooling=how, show_progress=show_progress)
        if chosen.kind == "combined":
            base = CombinedLinker(base, tfidf, chosen.tfidf_weight)
    if chosen.context:
        return ContextLinker(base, known_ids=frozenset(known_ids), prior=chosen.prior, citation=chosen.citation)
    return base
