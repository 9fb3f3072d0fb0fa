"""`qa bench-scale`: how ingest, disk, memory and search grow from 1× to 100× the seed corpus.

For each scale a synthetic corpus (qa/synthetic.py) is written to a fresh temporary folder and indexed into
a fresh data dir. Ingest and search each run in their own subprocess, so the peak RSS reported is that
scale's alone. The embedding cache starts empty unless --embed-cache is given (for debugging only; the
report says `warm_cache: true` then and its ingest figures are not embedding figures).

1× is 20 synthetic reports (~306 chunks, the seeds' size) rather than the seeds themselves, so that every
scale has the same distribution of report sizes and the same kind of region/year probes.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from bench.seeds import QUESTIONS_FILE, _percentile, peak_rss_mb
from qa.settings import PROJECT_ROOT, Settings

REPORTS_PER_X = 20  # 20 synthetic reports ≈ 306 chunks = the seed corpus
# "Which regions…" questions: `qa ask` searches them with per_doc=2, every chunk of every report a candidate.
WHICH_QUESTIONS = ["哪些地区行政机关负责人出庭应诉率达100%?", "哪些地区开展了法治政府建设示范创建?", "哪些地区行政复议直接纠错率超过20%?"]
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"


@dataclass
class Probe:
    """A question that names a synthetic report's region and year; answered well if that report is in the top k."""

    question: str
    file: str
    region: str
    year: int
    filtered: bool = False  # asked with an explicit region+year filter instead of in the question


@dataclass
class IngestFigures:
    files: int
    failed: int
    documents: int
    chunks: int
    seconds: float
    chunks_per_s: float
    embed_seconds: float  # inside the embedder (model + cache), the rest is parsing, Chroma and SQLite
    bm25_build_seconds: float  # paid by the first search after an ingest
    ms_per_file_first10pct: float  # median over the first/last tenth of write batches; a rise means per-file
    ms_per_file_last10pct: float  # cost grows with the index
    misattributed: int  # documents whose region/year differ from what the generator wrote
    embedder: str
    peak_rss_mb: float
    # CPU seconds (user + system, all threads) spent indexing: unlike wall time, barely moved by other jobs on the
    # machine (bench runs share 2 cores with other work), so before/after comparisons of a change read from it
    cpu_seconds: float = 0.0


@dataclass
class Latency:
    n: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> "Latency":
        ms = lambda q: round(_percentile(seconds, q) * 1000, 1)  # noqa: E731
        return cls(len(seconds), ms(0.5), ms(0.95), ms(0.99))


@dataclass
class SearchFigures:
    first_search_s: float  # fresh process: model, jieba and BM25 load
    latency: dict[str, Latency]  # all (top-k searches) / seed_questions / region_probes / filtered_probes / which_per_doc
    probe_hit_rate: float  # region+year named in the question: that report in the top 5
    filtered_hit_rate: float  # same, with an explicit region+year filter
    probes: int
    misses: list[str]
    peak_rss_mb: float


@dataclass
class ScaleRun:
    scale: int
    reports: int
    generate_s: float
    ingest: IngestFigures
    search: SearchFigures
    disk_mb: dict[str, float]
    load_avg_before: list[float]
    load_avg_after: list[float]
    warm_cache: bool = False
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------- helpers


def _size_mb(*paths: Path) -> float:
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return round(total / 2**20, 2)


def _database_mb(url: str) -> float:
    """The size of a PostgreSQL catalogue database."""
    from qa.sqldb import open_database

    db = open_database(url)
    try:
        return round(db.fetchall("SELECT pg_database_size(current_database())")[0][0] / 2**20, 2)
    finally:
        db.close()


def disk_usage(settings: Settings) -> dict[str, float]:
    """Each part of the index on disk (SQLite files with their -wal/-shm)."""
    with_wal = lambda p: [p, p.with_name(p.name + "-wal"), p.with_name(p.name + "-shm")]  # noqa: E731
    parts = {
        "catalog": _database_mb(settings.database_url) if settings.database_url else _size_mb(*with_wal(settings.catalog_path)),
        "bm25": _size_mb(settings.lexical_dir),
        "chroma": _size_mb(settings.chroma_dir),
        "embed_cache": _size_mb(*with_wal(settings.embed_cache_path)),
    }
    parts["total"] = round(sum(parts.values()), 2)
    return parts


def make_probes(manifest: list, n: int, seed: int = 7) -> list[Probe]:
    """n reports chosen at random; each asked about one of its own section topics, by region and year."""
    rng = random.Random(seed)
    chosen = rng.sample(manifest, min(n, len(manifest)))
    probes = []
    for r in chosen:
        topic = rng.choice(r.topics)[:24] if r.topics else "法治政府建设"
        probes.append(Probe(f"{r.region}{r.year}年{topic}", r.file, r.region, r.year))
        probes.append(Probe(topic, r.file, r.region, r.year, filtered=True))
    return probes


def seed_questions() -> list[str]:
    return [json.loads(line)["question"] for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------- the two subprocesses


def ingest_step(corpus: Path, manifest_path: Path) -> IngestFigures:
    """Index a corpus into QA_DATA_DIR, as `qa ingest` does, then build BM25 as the first search would."""
    from statistics import median

    from qa.index import Index
    from qa.ingest import ingest_paths
    from bench.synthetic import read_manifest

    index = Index(Settings())
    embeddings = index.embeddings  # loading the model is not indexing
    embed_time = [0.0]
    inner_embed = embeddings.embed_documents

    def timed_embed(texts, progress=None):
        t = time.perf_counter()
        try:
            return inner_embed(texts, progress=progress)
        finally:
            embed_time[0] += time.perf_counter() - t

    embeddings.embed_documents = timed_embed  # instance attribute: counts every call the index makes
    batches: list[tuple[float, int]] = []  # (written at, files in the batch)
    inner_add = index.add_sources

    def timed_add(batch, *args, **kwargs):
        try:
            return inner_add(batch, *args, **kwargs)
        finally:
            batches.append((time.perf_counter(), len(batch)))

    index.add_sources = timed_add
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    results = ingest_paths(index, [corpus])
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    t1 = time.perf_counter()
    index.lexical()
    bm25_seconds = time.perf_counter() - t1

    # Milliseconds per file (parse + embed + write), batch by batch: flat means no cost grows with the index.
    ends = [t for t, _ in batches]
    per_file = [(b - a) / n for a, b, (_, n) in zip([t0] + ends, ends, batches)]
    tenth = max(1, len(per_file) // 10)
    chunks = sum(r.chunks for r in results)
    return IngestFigures(
        files=len(results),
        failed=sum(r.status == "failed" for r in results),
        documents=sum(len(r.documents) for r in results),
        chunks=chunks,
        seconds=round(seconds, 2),
        chunks_per_s=round(chunks / seconds, 2) if seconds else 0.0,
        embed_seconds=round(embed_time[0], 2),
        bm25_build_seconds=round(bm25_seconds, 2),
        ms_per_file_first10pct=round(median(per_file[:tenth]) * 1000, 1) if per_file else 0.0,
        ms_per_file_last10pct=round(median(per_file[-tenth:]) * 1000, 1) if per_file else 0.0,
        misattributed=_misattributed(index, read_manifest(manifest_path)),
        embedder=embeddings.name,
        peak_rss_mb=peak_rss_mb(),
        cpu_seconds=round(cpu, 1),
    )


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _misattributed(index, manifest: list) -> int:
    expected = {r.file: (r.region, r.year) for r in manifest}
    docs = index.catalog.documents()
    return sum(expected.get(Path(d.source).name) != (d.region, d.year) for d in docs)


def search_step(manifest_path: Path, n_probes: int, rounds: int) -> SearchFigures:
    """A fresh process opens the index and answers the seed questions and the region/year probes."""
    from qa.index import Index
    from qa.retrieval import Filters, search
    from bench.synthetic import read_manifest

    index = Index(Settings())
    questions = seed_questions()
    probes = make_probes(read_manifest(manifest_path), n_probes)
    t = time.perf_counter()
    search(index, questions[0])
    first = time.perf_counter() - t

    times: dict[str, list[float]] = {"seed_questions": [], "region_probes": [], "filtered_probes": []}
    found: dict[int, bool] = {}
    for _ in range(rounds):
        for q in questions:
            t = time.perf_counter()
            search(index, q)
            times["seed_questions"].append(time.perf_counter() - t)
        for i, p in enumerate(probes):
            filters = Filters(region=p.region, year=p.year) if p.filtered else None
            t = time.perf_counter()
            hits = search(index, p.question, k=5, filters=filters)
            times["filtered_probes" if p.filtered else "region_probes"].append(time.perf_counter() - t)
            found[i] = any(Path(h.doc.source).name == p.file and h.doc.region == p.region and h.doc.year == p.year for h in hits)
        for q in WHICH_QUESTIONS:
            t = time.perf_counter()
            search(index, q, per_doc=2)
            times.setdefault("which_per_doc", []).append(time.perf_counter() - t)
    rate = lambda flag: round(sum(found[i] for i, p in enumerate(probes) if p.filtered == flag) / max(1, sum(p.filtered == flag for p in probes)), 3)  # noqa: E731
    latency = {name: Latency.of(values) for name, values in times.items()}
    latency["all"] = Latency.of([v for name, values in times.items() if name != "which_per_doc" for v in values])
    return SearchFigures(
        first_search_s=round(first, 2),
        latency=latency,
        probe_hit_rate=rate(False),
        filtered_hit_rate=rate(True),
        probes=sum(not p.filtered for p in probes),
        misses=[p.question for i, p in enumerate(probes) if not found[i] and not p.filtered][:10],
        peak_rss_mb=peak_rss_mb(),
    )


def _subprocess(args: list[str], env: dict) -> dict:
    """Run one step in a fresh interpreter; its last stdout line is the JSON result."""
    proc = subprocess.run([sys.executable, "-m", "bench.scale", *args], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"bench step {args[0]} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- one scale, all scales


@dataclass
class Options:
    scales: list[int]
    reports_per_x: int = REPORTS_PER_X
    embed_model: str | None = None
    embed_cache: Path | None = None  # debugging only: reuse vectors across runs
    probes: int = 50
    rounds: int = 3
    workdir: Path | None = None
    database_url: str | None = None  # an empty PostgreSQL database for the catalogue (one scale per database); None: SQLite


def run_scale(scale: int, opts: Options) -> ScaleRun:
    from bench.synthetic import generate, write_manifest

    n = scale * opts.reports_per_x
    with tempfile.TemporaryDirectory(prefix=f"qa-scale-{scale}x-", dir=opts.workdir) as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        manifest = generate(tmp / "corpus", n)
        generate_s = time.perf_counter() - t
        write_manifest(manifest, tmp / "manifest.jsonl")
        env = {k: v for k, v in os.environ.items() if k not in ("QA_CHROMA_URL", "QA_EMBED_CACHE", "QA_DATABASE_URL")}
        if opts.database_url:
            env["QA_DATABASE_URL"] = opts.database_url
        env["QA_DATA_DIR"] = str(tmp / "data")
        env["QA_EMBED_CACHE"] = str(opts.embed_cache or tmp / "data" / "embed_cache.sqlite")
        if opts.embed_model:
            env["QA_EMBED_MODEL"] = opts.embed_model
        _provide_model(Settings(data_dir=tmp / "data", embed_cache=Path(env["QA_EMBED_CACHE"]), embed_model=opts.embed_model or Settings().embed_model))
        load_before = [round(x, 2) for x in os.getloadavg()]
        ingest = IngestFigures(**_subprocess(["ingest", str(tmp / "corpus"), str(tmp / "manifest.jsonl")], env))
        raw = _subprocess(["search", str(tmp / "manifest.jsonl"), str(opts.probes), str(opts.rounds)], env)
        raw["latency"] = {k: Latency(**v) for k, v in raw["latency"].items()}
        search = SearchFigures(**raw)
        settings = Settings(data_dir=tmp / "data", embed_cache=Path(env["QA_EMBED_CACHE"]), database_url=opts.database_url)
        disk = disk_usage(settings)
        if opts.embed_cache:
            disk["embed_cache"] = None  # shared with other runs: its size says nothing about this scale
    return ScaleRun(scale, n, round(generate_s, 2), ingest, search, disk, load_before, [round(x, 2) for x in os.getloadavg()], bool(opts.embed_cache))


def _provide_model(settings: Settings) -> None:
    """Put the exported ONNX model where the scale's index looks for it, before its ingest starts.

    Exporting (quantize_dynamic) inside the ingest step used to count in its peak RSS and CPU time: the export is
    `qa models build`'s work, done once per install. It is done (once) in the project's own data folder and copied."""
    import shutil

    from qa.embeddings import ONNX_E5, onnx_model_path
    from qa.onnx_e5 import export

    if settings.embed_model != ONNX_E5:
        return
    target = onnx_model_path(settings)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(export(onnx_model_path(Settings())), target)


def growth(runs: list[ScaleRun]) -> list[dict]:
    """Exponent k in metric ∝ chunks^k between consecutive scales (1 = linear, 0 = flat, 2 = quadratic)."""
    def exponent(a: float, b: float, ca: int, cb: int) -> float | None:
        if not a or not b or ca == cb or a <= 0 or b <= 0:
            return None
        return round(math.log(b / a) / math.log(cb / ca), 2)

    out = []
    for a, b in zip(runs, runs[1:]):
        ca, cb = a.ingest.chunks, b.ingest.chunks
        pairs = {
            "ingest_s": (a.ingest.seconds, b.ingest.seconds),
            "ingest_cpu_s": (a.ingest.cpu_seconds, b.ingest.cpu_seconds),
            "bm25_build_s": (a.ingest.bm25_build_seconds, b.ingest.bm25_build_seconds),
            "disk_total_mb": (a.disk_mb["total"], b.disk_mb["total"]),
            "ingest_rss_mb": (a.ingest.peak_rss_mb, b.ingest.peak_rss_mb),
            "search_rss_mb": (a.search.peak_rss_mb, b.search.peak_rss_mb),
            "search_p50_ms": (a.search.latency["all"].p50_ms, b.search.latency["all"].p50_ms),
            "search_p95_ms": (a.search.latency["all"].p95_ms, b.search.latency["all"].p95_ms),
            "which_p50_ms": tuple(r.search.latency["which_per_doc"].p50_ms if "which_per_doc" in r.search.latency else 0.0 for r in (a, b)),
        }
        out.append({"from": f"{a.scale}x", "to": f"{b.scale}x", "chunks_ratio": round(cb / ca, 2),
                    **{k: exponent(x, y, ca, cb) for k, (x, y) in pairs.items()}})
    return out


# Issue #14's targets at 2,000 reports (100×): (name, value of a run, limit). Checked on the 2,000-report run
# when there is one; wall-clock targets assume 2 cores not shared with other work (the report keeps the load).
TARGETS = [
    ("ingest_s < 600", lambda r: r.ingest.seconds, 600),
    ("ingest_rss_mb < 800", lambda r: r.ingest.peak_rss_mb, 800),
    ("search_rss_mb < 800", lambda r: r.search.peak_rss_mb, 800),
    ("search_p95_ms < 50", lambda r: r.search.latency["all"].p95_ms, 50),
    ("which_p50_ms < 100", lambda r: r.search.latency["which_per_doc"].p50_ms if "which_per_doc" in r.search.latency else None, 100),
]


def targets(runs: list[ScaleRun]) -> list[dict]:
    """Each target with the measured value at 2,000 reports and whether it is met (empty without a 100× run)."""
    out = []
    for run_ in runs:
        if run_.reports != 2000:
            continue
        for name, value, limit in TARGETS:
            v = value(run_)
            row = {"target": name, "value": v, "met": v is not None and v < limit, "load_avg": run_.load_avg_before}
            if name.startswith("ingest_s") and run_.ingest.embedder.startswith("stand-in/"):
                row.update(met=None, note="stand-in vectors: nothing was embedded, so ingest time says nothing of this target")
            out.append(row)
    return out


def run(opts: Options) -> dict:
    runs = []
    for scale in opts.scales:
        runs.append(run_scale(scale, opts))
        print(table_row(runs[-1]), file=sys.stderr, flush=True)
    return {
        "date": date.today().isoformat(),
        "git": _git_head(),
        "cpus": os.cpu_count(),
        "reports_per_x": opts.reports_per_x,
        "seed_corpus_chunks": 306,
        "note": "1x = 20 synthetic reports (seed-sized); each scale in a fresh data dir with a cold embedding cache unless warm_cache",
        "runs": [asdict(r) for r in runs],
        "growth": growth(runs),
        "targets": targets(runs),
    }


def _git_head() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip() or None
    except OSError:
        return None


COLUMNS = "scale reports docs chunks ingest_s ingest_cpu_s chunks/s embed_s bm25_s catalog_MB bm25_MB chroma_MB cache_MB ingest_RSS search_RSS p50 p95 p99 which_p50 probe@5 filt@5 load embedder".split()


def table_row(r: ScaleRun) -> str:
    lat, d = r.search.latency["all"], r.disk_mb
    cells = [f"{r.scale}x", r.reports, r.ingest.documents, r.ingest.chunks, r.ingest.seconds, r.ingest.cpu_seconds, r.ingest.chunks_per_s, r.ingest.embed_seconds,
             r.ingest.bm25_build_seconds, d["catalog"], d["bm25"], d["chroma"], d["embed_cache"] if d["embed_cache"] is not None else "shared",
             r.ingest.peak_rss_mb, r.search.peak_rss_mb, lat.p50_ms, lat.p95_ms, lat.p99_ms,
             r.search.latency["which_per_doc"].p50_ms if "which_per_doc" in r.search.latency else "-", r.search.probe_hit_rate, r.search.filtered_hit_rate,
             "/".join(str(x) for x in r.load_avg_before), r.ingest.embedder + (" (warm cache)" if r.warm_cache else "")]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(report: dict) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for raw in report["runs"]:
        lines.append(table_row(_scale_run(raw)))
    return "\n".join(lines)


def _scale_run(raw: dict) -> ScaleRun:
    search = dict(raw["search"])
    search["latency"] = {k: Latency(**v) for k, v in search["latency"].items()}
    return ScaleRun(**{**raw, "ingest": IngestFigures(**raw["ingest"]), "search": SearchFigures(**search)})


def default_out() -> Path:
    return RESULTS_DIR / f"scale-{date.today().isoformat()}.json"


# ---------------------------------------------------------------- command line


def register(app) -> None:
    import typer

    @app.command("bench-scale")
    def bench_scale(
        scales: str = typer.Option("1,10,100", help="Multiples of the seed corpus (1× = 20 synthetic reports)."),
        embed_model: str = typer.Option(None, help="QA_EMBED_MODEL for this run (e.g. a faster embedder)."),
        embed_cache: Path = typer.Option(None, help="Reuse this embedding cache (debugging; figures are then not cold)."),
        reports_per_x: int = typer.Option(REPORTS_PER_X),
        probes: int = typer.Option(50),
        rounds: int = typer.Option(3),
        out: Path = typer.Option(None, help="default: bench/results/scale-<date>.json"),
        as_json: bool = typer.Option(False, "--json"),
    ):
        """Synthetic corpora at 1×/10×/100× the seeds: ingest throughput, disk, RSS, search latency, region probes."""
        opts = Options([int(s) for s in scales.split(",") if s.strip()], reports_per_x, embed_model, embed_cache, probes, rounds)
        report = run(opts)
        out = out or default_out()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        if as_json:
            sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
        else:
            print(table(report))
            print(f"growth (metric ∝ chunks^k): {json.dumps(report['growth'], ensure_ascii=False)}")
            for t in report["targets"]:
                verdict = "not measured" if t["met"] is None else "met" if t["met"] else "NOT met"
                print(f"target {t['target']}: {t['value']} {verdict} (load {t['load_avg']}){' — ' + t['note'] if t.get('note') else ''}")
            print(f"written to {out}")


STAND_IN = "QA_BENCH_STAND_IN"  # env: documents get stand-in vectors (see use_stand_in_vectors)


def use_stand_in_vectors() -> None:
    """Documents get deterministic pseudo-random unit vectors (from a hash of the text); queries keep the real model.

    For the serving side at 100× only (search latency, RSS) when embedding 30,000 chunks for real does not fit in
    the time: the index has the real catalogue, BM25, Chroma HNSW and vector matrix of the same size, and each query
    is still embedded by the real model, so latency counts everything but the vectors' meaning. Probe hit rates of
    such a run say nothing about retrieval quality. Reported as `embedder: stand-in/…`."""
    import hashlib

    import numpy as np

    import qa.embeddings as E

    real_load = E._load_model

    class StandIn(E.Embeddings):
        def __init__(self, real):
            self.real, self.name = real, f"stand-in/{getattr(real, 'name', 'model')}"

        def embed_documents(self, texts):
            out = []
            for t in texts:
                seed = int.from_bytes(hashlib.sha1(t.encode()).digest()[:8], "little")
                v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
                out.append((v / np.linalg.norm(v)).tolist())
            return out

        def embed_query(self, text):
            return self.real.embed_query(text)

    E._load_model = lambda settings: StandIn(real_load(settings))


def main(argv: list[str] | None = None) -> None:
    """The subprocess entry points: `python -m bench.scale ingest CORPUS MANIFEST` / `search MANIFEST N ROUNDS`."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("step", choices=["ingest", "search"])
    parser.add_argument("args", nargs="*")
    ns = parser.parse_args(argv)
    if os.environ.get(STAND_IN):
        use_stand_in_vectors()
    if ns.step == "ingest":
        result = ingest_step(Path(ns.args[0]), Path(ns.args[1]))
    else:
        result = search_step(Path(ns.args[0]), int(ns.args[1]), int(ns.args[2]))
    sys.stdout.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
