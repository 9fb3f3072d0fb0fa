"""`qa bench`: index the seeds from scratch in a temporary folder, then time search and answers.

Figures reported: seconds to index (no embedding cache), chunks per second, warm search latency p50/p95,
`qa ask` latency per stage for each configured backend, and peak memory (RSS high-water mark).
"""
from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path

from qa.settings import PROJECT_ROOT, Settings

QUESTIONS_FILE = PROJECT_ROOT / "tests" / "data" / "retrieval.jsonl"


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def peak_rss_mb() -> float:
    """This process's resident-memory high-water mark."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _ms(values: list[float]) -> dict:
    return {"p50_ms": round(_percentile(values, 0.5) * 1000, 1), "p95_ms": round(_percentile(values, 0.95) * 1000, 1), "n": len(values)}


def run_bench(base: Settings, backends: list[str] | None = None, rounds: int = 3) -> dict:
    from qa.answer import ask
    from qa.index import Index
    from qa.ingest import ingest_paths
    from qa.llm import available_backends
    from qa.retrieval import search

    questions = [json.loads(l)["question"] for l in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines() if l.strip()]
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        settings = base.model_copy(update={"data_dir": Path(tmp), "embed_cache": Path(tmp) / "cache.sqlite", "chroma_url": None})
        index = Index(settings)
        index.embeddings  # model load is not indexing
        t0 = time.perf_counter()
        results = ingest_paths(index, [settings.seeds_dir])
        seconds = time.perf_counter() - t0
        chunks = sum(r.chunks for r in results)

        for q in questions[:3]:
            search(index, q)  # warm: BM25 loaded, model and jieba initialised
        search_times = []
        for _ in range(rounds):
            for q in questions:
                t = time.perf_counter()
                search(index, q)
                search_times.append(time.perf_counter() - t)

        report = {
            "seed_files": len(results),
            "documents": sum(len(r.documents) for r in results),
            "chunks": chunks,
            "index_seconds": round(seconds, 1),
            "chunks_per_second": round(chunks / seconds, 1),
            "search": _ms(search_times),
            "embedding_model": index.embeddings.name,
        }
        for backend in backends or available_backends(base):
            stages: dict[str, list[float]] = {}
            for q in questions[: (len(questions) if backend == "extractive" else 5)]:
                answer = ask(index, q, backend=backend)
                for stage, value in answer.timings.items():
                    stages.setdefault(stage, []).append(value)
            report[f"ask[{backend}]"] = {stage: _ms(values) for stage, values in stages.items()}
    report["peak_rss_mb"] = peak_rss_mb()
    return report
