"""Chapter 12 real-data benchmark: a character BiLSTM-CRF (no BERT) on the Ruijin split, CPU only.

Trains on the committed split's training documents (validation documents for early stopping), scores the
test documents with exact span + type on the original brat offsets, and prints scores and counts only (the
corpus has no stated licence: no text is printed). Goal: micro-F1 >= 0.70 within 30 minutes on 2 CPU cores.

    COURSE_REAL_DATA=../shared/data .venv/bin/python benchmarks/ruijin_bilstm_crf.py --threads 2 --max-minutes 25
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from course_utils.ie.bio import EncodeStats, encode_document
from course_utils.ie.brat import corpus_counts, read_folder
from course_utils.ie.linebreaks import remove_line_breaks
from course_utils.ie.ner_zh import (
    TrainConfig,
    build_model,
    evaluate_documents,
    load_split,
    make_examples,
    pretrain_embeddings,
    train_ner,
)
from course_utils.ie.scoring import seqeval_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="Ruijin folder (default: $COURSE_REAL_DATA/ruijin_diabetes)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-minutes", type=float, default=25.0, help="training time cap")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--embedding-dim", type=int, default=100)
    parser.add_argument("--lstm-hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--bigram-min-count", type=int, default=None,
                        help="add bigram embeddings (bigrams seen at least this often in training)")
    parser.add_argument("--bigram-dim", type=int, default=50)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--lr-decay", type=float, default=1.0, help="learning rates x this after every epoch")
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--rare-oversample", type=int, default=2)
    parser.add_argument("--ema-decay", type=float, default=None,
                        help="validate and keep an exponential moving average of the weights (e.g. 0.998)")
    parser.add_argument("--pretrain-epochs", type=int, default=0,
                        help="initialise character (and bigram) embeddings with skip-gram vectors of the training "
                             "documents, this many word2vec epochs (0: random initialisation)")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.data or Path(os.environ.get("COURSE_REAL_DATA", "../shared/data")) / "ruijin_diabetes")
    started = time.perf_counter()
    corpus = read_folder(root)
    counts = corpus_counts(corpus)
    print("reader counts:", json.dumps(counts))
    kept, lost = EncodeStats(), EncodeStats()
    for doc in corpus.documents:
        kept.add(encode_document(doc).stats)
        lost.add(encode_document(doc, remove_breaks=False).stats)
    print(f"BIO without line-break removal: {lost.discontinuous} of {lost.total} entities lost "
          f"({lost.discontinuous / lost.total:.2%}); with removal: {kept.discontinuous} lost; "
          f"nested dropped {kept.nested}, crossing dropped {kept.crossing}, kept {kept.kept}")
    split = load_split()
    train_docs = corpus.subset(split["train"]).documents
    val_docs = corpus.subset(split["val"]).documents
    test_docs = corpus.subset(split["test"]).documents
    model, vocab, meta = build_model("char", None, texts=[remove_line_breaks(d.text)[0] for d in train_docs],
                                  max_length=args.max_length, lstm_hidden=args.lstm_hidden,
                                  embedding_dim=args.embedding_dim, dropout=args.dropout,
                                  bigram_min_count=args.bigram_min_count, bigram_dim=args.bigram_dim)
    pretrained = None
    if args.pretrain_epochs:
        pretrained = pretrain_embeddings(model, vocab, [d.text for d in train_docs], epochs=args.pretrain_epochs)
        print(f"skip-gram pretraining on the training documents: {pretrained}", flush=True)
    train_ex, _ = make_examples(train_docs, vocab, model.tags, max_length=args.max_length)
    val_ex, _ = make_examples(val_docs, vocab, model.tags, max_length=args.max_length)
    print(f"split: {len(train_docs)} train / {len(val_docs)} val / {len(test_docs)} test documents; "
          f"{len(train_ex)} training chunks; vocabulary {len(vocab)} characters, "
          f"{meta.get('bigrams', 0)} bigrams; settings {vars(args)}")
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr_encoder=args.lr, lr_head=args.lr,
                         patience=args.patience, max_minutes=args.max_minutes, lr_decay=args.lr_decay,
                         rare_types=("Frequency", "SideEff", "Treatment", "Duration", "Operation", "Method"),
                         rare_oversample=args.rare_oversample, ema_decay=args.ema_decay)
    result = train_ner(model, train_ex, val_ex, config, show_progress=True)
    for row in result.history:
        print("epoch {epoch:.0f}  loss {loss:.4f}  train chunk F1 {train_f1:.3f}  val chunk F1 {val_f1:.3f}  "
              "{seconds:.0f} s".format(**row), flush=True)
    print(f"training: {result.seconds / 60:.1f} min, best epoch {result.best_epoch}, {result.stopped}")
    evaluation = evaluate_documents(model, vocab, test_docs, max_length=args.max_length)
    table = evaluation.table()
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print("errors:", evaluation.errors)
    print(f"token accuracy {evaluation.token_accuracy:.4f}")
    print("seqeval (cleaned-text BIO):")
    print(seqeval_table(evaluation.gold_tags, evaluation.pred_tags).to_string(float_format=lambda v: f"{v:.3f}"))
    total = time.perf_counter() - started
    print(f"TEST micro-F1 {evaluation.scores.micro_f1:.4f}  macro-F1 {evaluation.scores.macro_f1:.4f}  "
          f"training {result.seconds / 60:.1f} min, whole run {total / 60:.1f} min, {args.threads} threads")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "micro_f1": evaluation.scores.micro_f1, "macro_f1": evaluation.scores.macro_f1,
            "token_accuracy": evaluation.token_accuracy, "errors": evaluation.errors,
            "per_type": {t: [s.precision, s.recall, s.f1, s.support] for t, s in evaluation.scores.per_type.items()},
            "history": result.history, "pretraining": pretrained, "train_minutes": result.seconds / 60, "total_minutes": total / 60,
            "counts": counts, "lost_without_break_removal": lost.discontinuous, "entities": lost.total,
        }, indent=1))


if __name__ == "__main__":
    main()
