"""Self-alignment pretraining: synonym batches, online hard-pair mining, the multi-similarity loss (chapter 14).

SapBERT (Liu et al. 2021) trains an encoder so that the names of one concept embed close together. Each batch
holds pairs of names of the same concept; all 2B names are embedded, and

1. **mining** keeps the triplets (anchor a, positive p of a's concept, negative n of another) that violate a
   margin on Euclidean distances of the unit vectors: ``d(a, n) - d(a, p) <= margin`` -- the negative is not at
   least ``margin`` farther than the positive. (The poster prints the inequality with the sides swapped, which
   would keep almost every triplet; SapBERT's code uses pytorch-metric-learning's ``TripletMarginMiner`` with
   this rule, margin 0.2, "all".)
2. the **multi-similarity loss** (Wang et al. 2019) on the cosine similarities S of the mined pairs, for each
   anchor i with mined positives P_i and negatives N_i:

   L_i = 1/alpha log(1 + sum_{p in P_i} exp(-alpha (S_ip - base)))
       + 1/beta  log(1 + sum_{n in N_i} exp( beta (S_in - base))),

   averaged over all 2B anchors (an anchor with no mined pair adds 0). SapBERT: alpha 1, beta 60, base 0.5.

Both are written out here and tested equal to a direct computation and to pytorch-metric-learning.

**Pooling.** A name's vector is the [CLS] vector or the mean of its token vectors, and an encoder must be scored
with the pooling it was trained with: SapBERT's recipe is [CLS] (``agg_mode="cls"`` in its code), MiniLM was
trained with the mean. ``SelfAlignSettings.pooling`` chooses it for training; :func:`save_encoder` records it next
to the weights so that the linker (:func:`course_utils.ie.linking.linkers.model_pooling`) scores with the same one.

**Several GPUs.** Under ``torchrun --standalone --nproc_per_node N -m course_utils.ie.linking train ...`` each
process embeds its share of every global batch (:func:`course_utils.distributed.shard_batch` over the batch's
names). Mining and the multi-similarity loss are *not* a mean of per-process terms: a hard negative of one
process's anchor may sit in another process's share. So the shares are gathered *with their gradients*
(``torch.distributed.nn.functional.all_gather``) and every process mines and computes the loss of the whole
global batch, exactly as one process would. All P processes hold the same loss; the gather's backward sums the
P gradients sent back to each share (P times the share's gradient), and ``DistributedDataParallel`` divides the
sum over processes by P: each weight receives the single-process gradient, with no other scaling. The batch
size is the global one, so a run on N GPUs takes the same steps as a run on one (tested on two CPU processes).

:func:`candidate_align` is a second, optional step from BioSyn (Sung et al. 2020): each training mention's
nearest dictionary names are searched with the current encoder and :func:`candidate_loss` (the marginal
likelihood of the gold ones among them) trains the ranking itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...progress import progress_bar
from .data import LinkingDataError

#: The two ways a name becomes one vector: the [CLS] token's vector, or the mean of the token vectors.
POOLINGS = ("cls", "mean")
#: The file :func:`save_encoder` writes next to the weights: how the encoder was trained (its pooling above all).
ENCODER_RECORD = "course_encoder.json"

__all__ = [
    "POOLINGS",
    "ENCODER_RECORD",
    "SelfAlignSettings",
    "TrainingHistory",
    "mine_hard_triplets",
    "multi_similarity_loss",
    "synonym_pairs",
    "dictionary_negatives",
    "self_align",
    "CandidateSettings",
    "candidate_loss",
    "candidate_align",
    "average_weights",
    "save_encoder",
    "saved_pooling",
]


@dataclass(frozen=True)
class SelfAlignSettings:
    """Hyper-parameters of self-alignment (SapBERT's where they apply; batch and epochs sized for a CPU)."""

    epochs: int = 1
    batch_size: int = 64  # pairs per batch: 2 x batch_size names
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    max_length: int = 25
    margin: float = 0.2
    alpha: float = 1.0
    beta: float = 60.0
    base: float = 0.5
    max_pairs_per_concept: int = 50
    dictionary_negatives: int = 0  # per pair, one of this many nearest wrong dictionary names joins the batch
    seed: int = 1234
    pooling: str = "mean"  # "cls" (SapBERT's recipe) or "mean" (MiniLM's); score with the same one
    max_steps: int | None = None  # stop after this many optimisation steps (None: every batch of every epoch)
    optimizer: str = "adamw"  # or "sgd" (plain SGD: a step is -lr x gradient, as the data-parallel test needs)

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise LinkingDataError(f"SelfAlignSettings.pooling must be one of {POOLINGS}, not {self.pooling!r}.")
        if self.optimizer not in ("adamw", "sgd"):
            raise LinkingDataError(f"SelfAlignSettings.optimizer must be 'adamw' or 'sgd', not {self.optimizer!r}.")
        if self.max_steps is not None and self.max_steps < 1:
            raise LinkingDataError(f"SelfAlignSettings.max_steps must be at least 1 (or None), not {self.max_steps}.")
        if self.batch_size < 1 or self.epochs < 1:
            raise LinkingDataError("SelfAlignSettings: batch_size and epochs must be at least 1.")


@dataclass
class TrainingHistory:
    """Loss and mined-triplet count per step."""

    losses: list[float] = field(default_factory=list)
    mined: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        """Return the number of optimisation steps."""
        return len(self.losses)


def mine_hard_triplets(embeddings: Any, labels: Any, margin: float = 0.2) -> tuple[Any, Any, Any]:
    """Return ``(anchor, positive, negative)`` index tensors of the triplets that violate ``margin`` (chapter 14).

    Distances are Euclidean between the L2-normalised ``embeddings``; a triplet is kept when
    ``d(a, n) - d(a, p) <= margin``.
    """
    import torch

    x = torch.nn.functional.normalize(embeddings, dim=1)
    dist = torch.cdist(x, x)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    pos = same & ~eye  # (a, p)
    neg = ~same  # (a, n)
    valid = pos.unsqueeze(2) & neg.unsqueeze(1)  # (a, p, n)
    violates = (dist.unsqueeze(1) - dist.unsqueeze(2)) <= margin  # d(a, n) - d(a, p), indexed [a, p, n]
    a, p, n = torch.nonzero(valid & violates, as_tuple=True)
    return a, p, n


def multi_similarity_loss(embeddings: Any, labels: Any, triplets: tuple[Any, Any, Any] | None = None, *,
                          alpha: float = 1.0, beta: float = 60.0, base: float = 0.5) -> Any:
    """Return the multi-similarity loss of ``embeddings`` over the pairs of ``triplets`` (all pairs if None).

    Cosine similarities; each anchor's positives and negatives are the (a, p) and (a, n) pairs of the mined
    triplets; the mean runs over every row of ``embeddings`` (chapter 14).
    """
    import torch

    x = torch.nn.functional.normalize(embeddings, dim=1)
    sim = x @ x.T
    m = len(labels)
    if triplets is None:
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        pos_mask = same & ~torch.eye(m, dtype=torch.bool, device=labels.device)
        neg_mask = ~same
    else:
        a, p, n = triplets
        pos_mask = torch.zeros(m, m, dtype=torch.bool, device=sim.device)
        neg_mask = torch.zeros(m, m, dtype=torch.bool, device=sim.device)
        pos_mask[a, p] = True
        neg_mask[a, n] = True

    def soft(values: Any, mask: Any, scale: float) -> Any:
        # 1/scale * log(1 + sum_mask exp(scale * values)), stable: logsumexp with a zero term for the "1 +"
        masked = torch.where(mask, scale * values, torch.full_like(values, float("-inf")))
        zeros = torch.zeros(m, 1, dtype=values.dtype, device=values.device)
        return torch.logsumexp(torch.cat([zeros, masked], dim=1), dim=1) / scale

    pos_loss = soft(base - sim, pos_mask, alpha)
    neg_loss = soft(sim - base, neg_mask, beta)
    return (pos_loss + neg_loss).mean()


def synonym_pairs(rows: Sequence[tuple[str, str]], *, max_pairs_per_concept: int = 50, seed: int = 1234,
                  ordered: bool = True) -> list[tuple[str, str, str]]:
    """Return ``(name, synonym, concept id)`` training pairs from ``(name, id)`` rows (chapter 14).

    Every ordered pair of distinct names of a concept, (a, b) and (b, a) (``ordered=False``: every unordered pair
    once, as SapBERT's data script draws them with ``itertools.combinations``), at most ``max_pairs_per_concept``
    per concept (sampled with ``seed``); concepts with a single name give no pair. The course trains on ordered
    pairs: a concept under the cap gives each unordered pair twice, one over it at most about half as many
    distinct pairs as SapBERT's rule.
    """
    by_id: dict[str, list[str]] = defaultdict(list)
    for name, cid in rows:
        if name not in by_id[cid]:
            by_id[cid].append(name)
    rng = np.random.default_rng(seed)
    pairs: list[tuple[str, str, str]] = []
    for cid in sorted(by_id):
        names = by_id[cid]
        candidates = [(a, b) for i, a in enumerate(names) for j, b in enumerate(names) if (i != j if ordered else i < j)]
        if len(candidates) > max_pairs_per_concept:
            pick = rng.choice(len(candidates), max_pairs_per_concept, replace=False)
            candidates = [candidates[i] for i in sorted(pick)]
        pairs += [(a, b, cid) for a, b in candidates]
    return pairs


def _embed_train(tokenizer: Any, model: Any, texts: list[str], max_length: int, pooling: str = "mean") -> Any:
    """Return one vector per text with gradients: the [CLS] vector or the masked mean, as ``embed_texts`` pools."""
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    batch = batch.to(next(model.parameters()).device)
    hidden = model(**batch).last_hidden_state
    if pooling == "cls":
        return hidden[:, 0]
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def dictionary_negatives(encoder: tuple[Any, Any], anchors: Sequence[tuple[str, str]], dictionary: Any, k: int, *,
                         batch_size: int = 256, max_length: int = 25, pooling: str = "mean"
                         ) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Return, per anchor (name, concept id), its ``k`` nearest dictionary names of other concepts (chapter 14).

    ``anchors`` are (normalised name, concept id); ``dictionary`` is a :class:`~.linking_data.Vocabulary`. The
    current encoder embeds both (exact cosine search, batched on the model's device); names equal to the anchor
    are skipped, so a corpus whose annotators gave one name two ids does not teach the model to separate a name
    from itself. These are the negatives a nearest-neighbour linker would wrongly return: in-batch mining
    alone rarely sees them, because a random batch of 128 names seldom holds a concept's near neighbours.
    ``pooling`` is the encoder's (see :data:`POOLINGS`).
    """
    import torch

    from ...text.pretrained import embed_texts
    from .data import normalize_name

    names = [normalize_name(n) for n in dictionary.names]
    model = encoder[1]
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    with torch.no_grad():
        table = torch.from_numpy(embed_texts(names, encoder=encoder, batch_size=batch_size, max_length=max_length,
                                             pooling=pooling, show_progress=False)).to(dev)
        unique = sorted(set(anchors))
        query = torch.from_numpy(embed_texts([a for a, _ in unique], encoder=encoder, batch_size=batch_size,
                                             max_length=max_length, pooling=pooling, show_progress=False)).to(dev)
        width = min(len(names), 4 * k + 16)
        out: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for start in range(0, len(unique), batch_size):
            top = torch.topk(query[start:start + batch_size] @ table.T, width, dim=1).indices.cpu().numpy()
            for (name, cid), row in zip(unique[start:start + batch_size], top):
                picked = out.setdefault((name, cid), [])
                for j in row:
                    if dictionary.ids[j] != cid and names[j] != name and len(picked) < k:
                        picked.append((names[j], dictionary.ids[j]))
    model.train(was_training)
    return out


def _end_of_epoch(model: Any, on_epoch_end: Callable[[int], None] | None, epoch: int) -> float:
    """Call ``on_epoch_end(epoch)`` with the model in eval mode, then back in training mode; return its seconds."""
    import time

    if on_epoch_end is None:
        return 0.0
    model.eval()
    start = time.perf_counter()
    on_epoch_end(epoch)
    seconds = time.perf_counter() - start
    model.train()
    return seconds


def self_align(encoder: tuple[Any, Any], rows: Sequence[tuple[str, str]],
               settings: SelfAlignSettings = SelfAlignSettings(), *, dictionary: Any = None,
               on_epoch_end: Callable[[int], None] | None = None, context: Any = None) -> TrainingHistory:
    """Train ``encoder`` (tokenizer, model) in place by self-alignment on ``(name, id)`` rows; return the history.

    Batches of synonym pairs (:func:`synonym_pairs`), names normalised as the linker does, ``settings.pooling``
    ([CLS] or mean), :func:`mine_hard_triplets` then :func:`multi_similarity_loss`, AdamW (or SGD); mixed
    precision on a GPU (bfloat16, or float16 with a gradient scaler); seeded; at most ``settings.max_steps``
    steps. With ``dictionary`` and ``settings.dictionary_negatives`` = k > 0, each pair also brings one of its
    anchor's k nearest wrong dictionary names (:func:`dictionary_negatives`, searched again at the start of
    every epoch with the encoder as it then is), labelled with its own concept, so that mining sees the
    confusions linking will face. ``on_epoch_end(epoch)`` (1-based) is called after each epoch with the model
    in eval mode, e.g. to score the encoder as it then is; its time is not counted in ``history.seconds``.

    ``context`` (a :class:`course_utils.distributed.DistributedContext`, from ``init_distributed`` under
    torchrun) trains data-parallel: ``settings.batch_size`` is the global batch, each process embeds its share
    of it, and mining and the loss see the gathered global batch (module docstring), so P processes take the
    same steps as one process (chapter 14).
    """
    import time

    import torch

    from ...device import amp_dtype, autocast
    from ...distributed import DistributedContext, wrap_model
    from ...seeding import seed_everything
    from .data import normalize_name

    tokenizer, model = encoder
    device = next(model.parameters()).device
    ctx = context if context is not None else DistributedContext(0, 1, 0, device)
    seed_everything(settings.seed)
    pairs = synonym_pairs([(normalize_name(n), c) for n, c in rows],
                          max_pairs_per_concept=settings.max_pairs_per_concept, seed=settings.seed)
    if not pairs:
        raise LinkingDataError("No concept has two different names: self-alignment needs synonym pairs (two rows "
                               "with the same id and different names).")
    use_negatives = dictionary is not None and settings.dictionary_negatives > 0
    concept_ids = {c for _, _, c in pairs} | (set(dictionary.ids) if use_negatives else set())
    labels_of = {cid: i for i, cid in enumerate(sorted(concept_ids))}
    net = wrap_model(model, ctx)  # DistributedDataParallel under torchrun, the model itself otherwise
    if settings.optimizer == "sgd":
        optimizer: Any = torch.optim.SGD(model.parameters(), lr=settings.learning_rate,
                                         weight_decay=settings.weight_decay)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    # float16 autocast (GPUs without bfloat16, e.g. T4, V100) needs a gradient scaler, or small gradients vanish
    scaler = torch.amp.GradScaler("cuda") if amp_dtype(device) == torch.float16 else None
    rng = np.random.default_rng(settings.seed)
    history = TrainingHistory()
    n_batches = (len(pairs) + settings.batch_size - 1) // settings.batch_size
    total = settings.epochs * n_batches if settings.max_steps is None else min(settings.epochs * n_batches,
                                                                               settings.max_steps)
    bar = progress_bar(total, desc="self-alignment", unit="batch", disable=not ctx.is_main)
    start = time.perf_counter()
    model.train()
    paused = 0.0
    for epoch in range(settings.epochs):
        if history.steps >= total:
            break
        negatives: dict[tuple[str, str], list[tuple[str, str]]] = {}
        if use_negatives:
            negatives = dictionary_negatives(encoder, [(a, c) for a, _, c in pairs], dictionary,
                                             settings.dictionary_negatives, max_length=settings.max_length,
                                             pooling=settings.pooling)
            model.train()
        order = rng.permutation(len(pairs))
        for b in range(n_batches):
            if history.steps >= total:
                break
            chunk = [pairs[i] for i in order[b * settings.batch_size:(b + 1) * settings.batch_size]]
            texts = [a for a, _, _ in chunk] + [s for _, s, _ in chunk]
            concepts = [c for _, _, c in chunk] * 2
            if negatives:
                in_batch = set(zip(texts, concepts))
                for a, _, c in chunk:
                    pool = negatives.get((a, c), [])
                    if pool:
                        name, cid = pool[int(rng.integers(len(pool)))]
                        if (name, cid) not in in_batch:
                            in_batch.add((name, cid))
                            texts.append(name)
                            concepts.append(cid)
            labels = torch.tensor([labels_of[c] for c in concepts], device=device)
            with autocast(device):
                emb = _embed_global(tokenizer, net, texts, settings, ctx)
            triplets = mine_hard_triplets(emb.detach(), labels, settings.margin)
            loss = multi_similarity_loss(emb, labels, triplets, alpha=settings.alpha, beta=settings.beta,
                                         base=settings.base)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            history.losses.append(float(loss.detach()))
            history.mined.append(int(triplets[0].numel()))
            bar.update(1)
        paused += _end_of_epoch(model, on_epoch_end, epoch + 1)
    bar.close()
    model.eval()
    history.seconds = time.perf_counter() - start - paused
    return history


def _embed_global(tokenizer: Any, net: Any, texts: list[str], settings: SelfAlignSettings, ctx: Any) -> Any:
    """Return the float32 vectors of the whole batch ``texts``, in its order, with gradients.

    One process: embed them all. P processes: each embeds its share (names ``rank, rank + P, ...``, the rule of
    :func:`course_utils.distributed.shard_batch`), the shares
    are gathered with ``torch.distributed.nn.functional.all_gather`` (whose backward returns to each share the
    sum of the gradients every process computed for it), and put back in the batch's order.
    """
    import warnings

    import torch

    if not ctx.distributed:
        return _embed_train(tokenizer, net, texts, settings.max_length, settings.pooling).float()
    import torch.distributed.nn.functional as dist_fn

    everything = list(range(len(texts)))
    shares = [everything[r::ctx.world_size] for r in range(ctx.world_size)]
    mine = shares[ctx.rank]
    # A process whose share is empty (a batch of fewer names than processes) still runs the model once, on an
    # empty name, and contributes no row: every process must take part in each forward and backward.
    local = _embed_train(tokenizer, net, [texts[i] for i in mine] or [""], settings.max_length,
                         settings.pooling).float()[:len(mine)]
    width = max(len(s) for s in shares)
    padded = torch.cat([local, local.new_zeros(width - len(mine), local.shape[1])]) if len(mine) < width else local
    with warnings.catch_warnings():  # torch 2.13 marks it deprecated in favour of a private module; it works
        warnings.simplefilter("ignore", FutureWarning)
        parts = dist_fn.all_gather(padded)
    gathered = torch.cat([part[:len(share)] for part, share in zip(parts, shares)])
    position = torch.as_tensor([i for share in shares for i in share], device=gathered.device)
    return gathered[torch.argsort(position)]


@dataclass(frozen=True)
class CandidateSettings:
    """Hyper-parameters of :func:`candidate_align` (BioSyn's loss; batch and candidates sized for a CPU)."""

    epochs: int = 1
    batch_size: int = 16  # queries per batch, each with ``candidates`` dictionary names
    candidates: int = 16
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    temperature: float = 0.05
    max_length: int = 25
    seed: int = 1234
    pooling: str = "mean"  # the encoder's: "cls" or "mean" (see POOLINGS)


def candidate_loss(query: Any, candidates: Any, gold: Any, temperature: float = 0.05) -> Any:
    """Return BioSyn's marginal negative log-likelihood of the gold candidates (chapter 14).

    ``query`` (B x d) and ``candidates`` (B x k x d) are embeddings, ``gold`` (B x k) marks the candidates whose
    id is gold; with cosine scores s_j / ``temperature``, the loss of a query is
    ``-log(sum_{gold j} exp(s_j) / sum_j exp(s_j))``, averaged over queries with at least one gold candidate.
    """
    import torch

    q = torch.nn.functional.normalize(query, dim=-1)
    c = torch.nn.functional.normalize(candidates, dim=-1)
    scores = torch.einsum("bd,bkd->bk", q, c) / temperature
    has_gold = gold.any(dim=1)
    if not bool(has_gold.any()):
        return scores.sum() * 0.0
    gold_scores = torch.where(gold, scores, torch.full_like(scores, float("-inf")))
    loss = torch.logsumexp(scores, dim=1) - torch.logsumexp(gold_scores, dim=1)
    return loss[has_gold].mean()


def _retrieve_candidates(encoder: tuple[Any, Any], queries: Sequence[tuple[str, str]], dictionary: Any, k: int,
                         max_length: int, pooling: str = "mean") -> list[tuple[list[str], list[bool]]]:
    """Per (query, id): its k nearest dictionary names, names equal to the query skipped, the best gold name put
    in the last place when none of the k is gold ([] when the id has no other name)."""
    import torch

    from ...text.pretrained import embed_texts
    from .data import normalize_name

    names = [normalize_name(n) for n in dictionary.names]
    columns: dict[str, list[int]] = {}
    for j, cid in enumerate(dictionary.ids):
        columns.setdefault(cid, []).append(j)
    model = encoder[1]
    dev = next(model.parameters()).device
    model.eval()
    out: list[tuple[list[str], list[bool]]] = []
    with torch.no_grad():
        table = torch.from_numpy(embed_texts(names, encoder=encoder, batch_size=256, max_length=max_length,
                                             pooling=pooling, show_progress=False)).to(dev)
        query = torch.from_numpy(embed_texts([q for q, _ in queries], encoder=encoder, batch_size=256,
                                             max_length=max_length, pooling=pooling, show_progress=False)).to(dev)
        width = min(len(names), 2 * k + 8)
        for start in range(0, len(queries), 256):
            sims = query[start:start + 256] @ table.T
            top = torch.topk(sims, width, dim=1).indices.cpu().numpy()
            for row, (q, cid), sim in zip(top, queries[start:start + 256], sims):
                picked = [j for j in row if names[j] != q][:k]
                gold_cols = [j for j in columns.get(cid, ()) if names[j] != q]
                if not gold_cols:
                    out.append(([], []))
                    continue
                if not any(dictionary.ids[j] == cid for j in picked):
                    best = gold_cols[int(torch.argmax(sim[gold_cols]))]
                    picked = picked[:k - 1] + [best]
                out.append(([names[j] for j in picked], [dictionary.ids[j] == cid for j in picked]))
    return out


def candidate_align(encoder: tuple[Any, Any], queries: Sequence[tuple[str, str]], dictionary: Any,
                    settings: CandidateSettings = CandidateSettings(), *,
                    on_epoch_end: Callable[[int], None] | None = None) -> TrainingHistory:
    """Train ``encoder`` in place with BioSyn's candidate loss on ``(mention, id)`` queries; return the history.

    The step after self-alignment that teaches the ranking itself (Sung et al. 2020): at the start of each
    epoch every query's ``settings.candidates`` nearest dictionary names are searched with the encoder as it
    then is (names equal to the query skipped, so a mention the dictionary holds cannot find itself; the best
    gold name joins when none of them is gold), then :func:`candidate_loss` pushes the gold names above the
    others. Seeded; mixed precision on a GPU; ``on_epoch_end`` as in :func:`self_align` (chapter 14).
    """
    import time

    import torch

    from ...device import autocast
    from ...seeding import seed_everything
    from .data import normalize_name

    tokenizer, model = encoder
    seed_everything(settings.seed)
    unique = list(dict.fromkeys((normalize_name(q), c) for q, c in queries))
    unique = [(q, c) for q, c in unique if q]
    if not unique:
        raise LinkingDataError("No query to train on: give (mention, id) rows with non-empty mentions.")
    if len(dictionary) == 0:
        raise LinkingDataError("The dictionary is empty: give at least one (name, id) row.")
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    device = next(model.parameters()).device
    rng = np.random.default_rng(settings.seed)
    history = TrainingHistory()
    n_batches = (len(unique) + settings.batch_size - 1) // settings.batch_size
    bar = progress_bar(settings.epochs * n_batches, desc="candidate loss", unit="batch")
    start = time.perf_counter()
    paused = 0.0
    for epoch in range(settings.epochs):
        found = _retrieve_candidates(encoder, unique, dictionary, settings.candidates, settings.max_length,
                                     settings.pooling)
        usable = [i for i, (names, _) in enumerate(found) if len(names) == settings.candidates]
        if not usable:
            raise LinkingDataError(f"No query has {settings.candidates} candidates with a gold name other than itself: the "
                             "dictionary needs other names of the queries' ids (and at least that many names).")
        model.train()
        order = rng.permutation(usable)
        steps = (len(usable) + settings.batch_size - 1) // settings.batch_size
        bar.update(n_batches - steps)  # queries with no other gold name give no batch
        for b in range(steps):
            chunk = [int(i) for i in order[b * settings.batch_size:(b + 1) * settings.batch_size]]
            texts = [unique[i][0] for i in chunk] + [n for i in chunk for n in found[i][0]]
            gold = torch.tensor([found[i][1] for i in chunk], dtype=torch.bool, device=device)
            with autocast(device):
                emb = _embed_train(tokenizer, model, texts, settings.max_length, settings.pooling).float()
            q, c = emb[:len(chunk)], emb[len(chunk):].view(len(chunk), settings.candidates, -1)
            loss = candidate_loss(q, c, gold, settings.temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            history.losses.append(float(loss.detach()))
            history.mined.append(len(chunk))
            bar.update(1)
        paused += _end_of_epoch(model, on_epoch_end, epoch + 1)
    bar.close()
    model.eval()
    history.seconds = time.perf_counter() - start - paused
    return history


def average_weights(finetuned: Any, base: Any, alpha: float) -> Any:
    """Return ``finetuned`` with its weights set to ``alpha * finetuned + (1 - alpha) * base`` (chapter 14).

    Weight-space interpolation between a fine-tuned model and the model it started from (Wortsman et al.'s
    WiSE-FT): alpha 1 keeps the fine-tuned weights, 0 restores the pretrained ones; in between often keeps
    most of the task gain while forgetting less. Both models must have the same architecture; integer buffers
    (e.g. position ids) are taken from ``finetuned``. The model is changed in place and returned.
    """
    import torch

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    base_state = base.state_dict()
    state = finetuned.state_dict()
    if state.keys() != base_state.keys():
        missing = sorted(set(state) ^ set(base_state))[:3]
        raise ValueError(f"the two models differ in their weights (e.g. {missing}): give the model fine-tuning started from.")
    with torch.no_grad():
        for name, value in state.items():
            if value.is_floating_point():
                value.mul_(alpha).add_(base_state[name].to(value.device, value.dtype), alpha=1.0 - alpha)
    return finetuned


def save_encoder(encoder: tuple[Any, Any], folder: str | Path, *, pooling: str | None = None,
                 details: dict[str, Any] | None = None) -> Path:
    """Return ``folder`` after saving tokenizer and model there atomically (nothing half-written on failure).

    With ``pooling`` the folder also gets :data:`ENCODER_RECORD` (``{"pooling": ..., **details}``), so that
    ``python -m course_utils.ie.linking link --model FOLDER`` scores with the pooling the encoder was trained
    with (chapter 14).
    """
    import json

    from ...paths import staged_directory

    if pooling is not None and pooling not in POOLINGS:
        raise LinkingDataError(f"pooling must be one of {POOLINGS}, not {pooling!r}.")
    folder = Path(folder)
    with staged_directory(folder) as tmp:
        encoder[0].save_pretrained(tmp)
        encoder[1].save_pretrained(tmp)
        if pooling is not None:
            record = {"pooling": pooling, **(details or {})}
            (Path(tmp) / ENCODER_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return folder


def saved_pooling(folder: str | Path) -> str | None:
    """Return the pooling recorded by :func:`save_encoder` in ``folder`` (None when it holds no record)."""
    import json

    path = Path(folder) / ENCODER_RECORD
    if not path.is_file():
        return None
    try:
        pooling = json.loads(path.read_text(encoding="utf-8")).get("pooling")
    except (json.JSONDecodeError, AttributeError):
        raise LinkingDataError(f"{path} is not the JSON object save_encoder writes; delete it or save the encoder "
                               "again.") from None
    if pooling not in POOLINGS:
        raise LinkingDataError(f"{path} records pooling {pooling!r}; expected one of {POOLINGS}.")
    return str(pooling)
