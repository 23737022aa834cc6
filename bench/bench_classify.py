"""Throughput and latency of `routing.classify` on corpus-like messages, one core.

    .venv/bin/python -m bench.bench_classify [--messages 5000] [--batch 500]
    (from the repository root)

Targets: single messages ≥ 2,000/s with p99 < 5 ms; batches (`classify_many`, as ingest
calls it) ≥ 20,000/s; loading the saved model < 1 s. Batches are measured again with the
per-word caches emptied, once and before every batch, for text the process has not seen.
Baselines measured in the same run give the figures a scale: folding the text (the least
any classifier does), entity extraction and language detection alone (parts of every
call), and the scikit-learn pipeline's own predict_proba on the same model.
"""

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable

from routing import classify
from routing.classify import classify_many, clear_caches
from routing.entities import find_entities
from routing.language import detect_language
from routing.model import (
    HELDOUT_DIR,
    MODEL_FILE,
    TRAIN_DIR,
    corpus_files,
    load_or_train,
    load_saved,
    model_dir,
    prepare,
    read_examples,
    shared_model,
    training_files,
)
from routing.text import fold
from routing.training import train

# The pipeline costs milliseconds per call; a sample is enough to show it.
_PIPELINE_SAMPLE = 500


def measure(name: str, function: Callable[[str], object], messages: list[str]) -> None:
    latencies = []
    started = time.perf_counter()
    for message in messages:
        before = time.perf_counter_ns()
        function(message)
        latencies.append(time.perf_counter_ns() - before)
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = latencies[len(latencies) // 2] / 1e3
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1e3
    print(
        f"{name:<34}{len(messages) / elapsed:>10,.0f} msg/s"
        f"   p50 {p50:>7.0f} µs   p99 {p99:>7.0f} µs"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500, help="messages per classify_many")
    arguments = parser.parse_args()
    # One core, as one worker process would have it.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    texts = [e.text for e in read_examples(corpus_files(TRAIN_DIR) + corpus_files(HELDOUT_DIR))]
    if not texts:
        print("no corpus under routing/corpus: nothing to measure")
        return 1
    messages = list(itertools.islice(itertools.cycle(texts), arguments.messages))
    average = sum(map(len, messages)) / len(messages)
    print(f"{len(messages)} messages from {len(texts)} corpus texts, {average:.0f} chars avg")

    shared_model()  # build or load once, outside the timings
    started = time.perf_counter()
    load_saved(model_dir() / MODEL_FILE)
    print(f"model load (joblib, target < 1 s): {time.perf_counter() - started:.3f} s")
    started = time.perf_counter()
    load_or_train()
    print(f"model load with fingerprint check: {time.perf_counter() - started:.3f} s\n")
    # The same model as scikit-learn's pipeline, trained again from the same files (the
    # saved model is arrays only).
    pipeline = train(read_examples(training_files(TRAIN_DIR, model_dir())))

    measure("baseline: fold only", fold, messages)
    measure("baseline: language only", detect_language, messages)
    measure("baseline: entities only", find_entities, messages)
    measure(
        "baseline: scikit-learn predict_proba",
        lambda text: pipeline.predict_proba([prepare(text, find_entities(text))]),
        messages[:_PIPELINE_SAMPLE],
    )
    measure("classify (full call)", classify, messages)
    measure_batches(messages, arguments.batch)
    # The calls above have seen every message: per-word caches then flatter the figure.
    # A fresh process meets its words for the first time, and a batch of unusual text
    # (pasted logs, codes) may share none with the batches before it.
    clear_caches()
    measure_batches(messages, arguments.batch, "caches emptied once")
    measure_batches(messages, arguments.batch, "caches emptied each batch", clear_caches)
    # A process that has run a while: its caches hold the words of earlier traffic (here
    # the training part), and the batches bring texts it has never seen (the held-out part).
    earlier = [e.text for e in read_examples(corpus_files(TRAIN_DIR))]
    clear_caches()
    for start in range(0, len(earlier), arguments.batch):
        classify_many(earlier[start:start + arguments.batch])
    seen = set(earlier)
    unseen = [e.text for e in read_examples(corpus_files(HELDOUT_DIR)) if e.text not in seen]
    measure_batches(unseen, arguments.batch,
                    f"{len(unseen)} unseen texts, caches warmed by the training part")
    return 0


def measure_batches(messages: list[str], size: int, caches: str = "",
                    before_each: Callable[[], object] | None = None) -> None:
    batches = [messages[i : i + size] for i in range(0, len(messages), size)]
    elapsed = 0.0
    for batch in batches:
        if before_each is not None:
            before_each()
        started = time.perf_counter()
        classify_many(batch)
        elapsed += time.perf_counter() - started
    print(f"{f'classify_many (batches of {size})':<34}{len(messages) / elapsed:>10,.0f} msg/s"
          f"   {elapsed / len(batches) * 1e3:>7.1f} ms a batch"
          + (f"   ({caches})" if caches else ""))


if __name__ == "__main__":
    sys.exit(main())
