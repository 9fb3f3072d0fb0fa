"""Which-question latency with and without the all-vectors matrix, on a synthetic corpus of N reports.

    python bench/which_matrix.py 200      # 10x; 2000 for 100x (ingests into /tmp/matrix<N>, reused on re-runs)
"""
import sys, time, statistics
from pathlib import Path
import qa.index
from qa.settings import Settings
from qa.index import Index
from qa.ingest import ingest_paths
from qa.retrieval import search
from bench.scale import WHICH_QUESTIONS
from bench.synthetic import generate

n = int(sys.argv[1]); root = Path(f"/tmp/matrix{n}")
corpus = root / "corpus"
if not corpus.exists():
    generate(corpus, n)
s = Settings(data_dir=root / "data", embed_cache=root / "cache.sqlite")
index = Index(s)
t = time.perf_counter(); ingest_paths(index, [corpus]); print("ingest s", round(time.perf_counter() - t, 1), index.catalog.stats())
search(index, "预热")
def run(label):
    times = []
    for _ in range(3):
        for q in WHICH_QUESTIONS:
            t = time.perf_counter(); hits = search(index, q, per_doc=2); times.append(time.perf_counter() - t)
    print(label, "which p50 ms", round(statistics.median(times) * 1000), "max", round(max(times) * 1000), "hits", len(hits))
    return [h.chunk.chunk_id for h in hits]
qa.index.MATRIX_ABOVE = 10**9
a = run("chroma fetch")
qa.index.MATRIX_ABOVE = 1000
t = time.perf_counter(); index.vector_matrix(); print("matrix build s", round(time.perf_counter() - t, 2))
b = run("matrix")
print("same hits:", a == b)
