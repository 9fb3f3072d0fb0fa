"""Orchestration: which index, which systems, which questions. Used by `qa eval` and by the tests."""
from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path

from ..index import Index
from ..settings import PROJECT_ROOT, Settings
from . import ncpqa
from .gold import load_gold, resolve_evidence
from .runner import evaluate
from .systems import Ours, Precomputed

DEFAULT_GOLD = PROJECT_ROOT / "eval" / "gold.jsonl"
DEFAULT_FLOORS = PROJECT_ROOT / "eval" / "floors.json"
DEFAULT_OUT = PROJECT_ROOT / "eval" / "reports"
FLOOR_KEYS = ("evidence_recall@5", "key_fact_recall", "refusal_recall", "supported_rate")


def eval_settings(base: Settings, name: str) -> Settings:
    """A separate data dir (and collection) for an evaluation corpus and embedding model (an index holds one model's
    vectors); the embedding cache is shared with the main index."""
    name = f"{name}-{hashlib.sha1(base.embed_model.encode()).hexdigest()[:8]}"
    return base.model_copy(update={"data_dir": base.data_dir / "eval" / name, "embed_cache": base.embed_cache_path, "collection": f"eval_{name}"})


# The modules whose code decides what a file becomes in the index. The index skips a file whose bytes are
# unchanged, so after a change to any of these an evaluation index would silently keep the old chunks.
INGEST_MODULES = ("loaders", "segment", "chunking", "facts", "gazetteer", "lexical", "models", "index", "catalog", "ingest", "embeddings")


def ingest_fingerprint(settings: Settings) -> str:
    h = hashlib.sha1()
    for name in INGEST_MODULES:
        path = PROJECT_ROOT / "qa" / f"{name}.py"
        h.update(path.read_bytes() if path.is_file() else name.encode())
    h.update(f"{settings.chunk_target}/{settings.chunk_max}/{settings.passage_target}/{settings.passage_max}/{settings.embed_model}".encode())
    return h.hexdigest()[:16]


def stale(index: Index) -> bool:
    """True when the index was built by other ingestion code than this; the caller re-ingests with force."""
    marker = index.settings.data_dir / "ingest.fingerprint"
    return not marker.is_file() or marker.read_text().strip() != ingest_fingerprint(index.settings)


def mark_fresh(index: Index) -> None:
    (index.settings.data_dir / "ingest.fingerprint").write_text(ingest_fingerprint(index.settings) + "\n")


def seed_index(base: Settings, docs_dir: Path | None = None, progress=None, files_done=None, totals: dict | None = None) -> Index:
    """The seeds in their own index, so the figures never depend on what else a user has uploaded.

    progress(n): chunks embedded; files_done(n): files finished; totals["documents"](n): how many files there are."""
    from ..ingest import expand, ingest_paths, prune

    docs_dir = Path(docs_dir or base.seeds_dir)
    same = docs_dir.resolve() == Path(base.seeds_dir).resolve()
    name = "seeds" if same else "docs-" + hashlib.sha1(str(docs_dir.resolve()).encode()).hexdigest()[:10]
    index = Index(eval_settings(base, name))  # one index per documents folder: never a mix of two
    if totals:
        totals["documents"](len(expand([docs_dir])))
    results = ingest_paths(index, [docs_dir], force=stale(index), progress=progress, files_done=files_done)
    failed = [f"{r.source}: {r.error}" for r in results if r.status == "failed"]
    if failed:
        raise RuntimeError("could not index the evaluation documents:\n  " + "\n  ".join(failed))
    prune(index, [docs_dir])
    mark_fresh(index)
    return index


def read_answers(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None
    return rows


SAMPLE_SEED = 14


def sample(items: list, n: int, seed: int = SAMPLE_SEED) -> list:
    """A fixed subset of about n items covering every type: each type keeps its share (at least two items), drawn
    with a seeded generator, in gold order. For runs too slow for the whole set (a local LLM on shared cores)."""
    import random
    from collections import defaultdict

    if n >= len(items):
        return list(items)
    by_type = defaultdict(list)
    for item in items:
        by_type[item.type].append(item)
    rng = random.Random(seed)
    chosen = set()
    for t, group in sorted(by_type.items()):
        take = max(2, round(n * len(group) / len(items)))
        chosen.update(id(x) for x in rng.sample(group, min(take, len(group))))
    return [x for x in items if id(x) in chosen]


def run_seeds(index: Index, gold: Path | list = DEFAULT_GOLD, k: int = 5, backend: str | None = None, baseline: bool = False,
              answers: Path | None = None, progress=None, baseline_progress=None, totals: dict | None = None,
              sample_size: int | None = None) -> dict:
    items = gold if isinstance(gold, list) else load_gold(gold)
    if sample_size:
        items = sample(items, sample_size)
    resolve_evidence(items, index.catalog.sources(), index.catalog.file_text, str(gold if not isinstance(gold, list) else "gold"))
    ours = Ours(index, backend)
    systems = [Precomputed(read_answers(answers), ours) if answers else ours]
    if backend and backend != "extractive" and not answers:
        # An LLM backend is measured against the extractive answer in the same run, on the same index.
        systems = [Ours(index, backend, name=backend), Ours(index, "extractive", name="extractive")]
    if baseline:
        from .baseline import Baseline

        systems.append(Baseline(index, index.settings.data_dir / "baseline", progress=baseline_progress, totals=totals))
    if totals:
        totals["answers"](len(items) * len(systems))
    t0 = time.perf_counter()
    result = {
        "dataset": "seeds", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "gold": str(gold) if not isinstance(gold, list) else "(in memory)", "items": len(items),
        "sample": {"size": sample_size, "seed": SAMPLE_SEED} if sample_size else None,
        "backend": backend or index.settings.backend, "answers_from": str(answers) if answers else None,
        "documents": len(index.catalog.documents()), "files": len(index.catalog.sources()),
    }
    result.update(evaluate(items, systems, k, progress))
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def run_ncpqa(base: Settings, limit: int | None = None, k: int = 5, backend: str | None = None, baseline: bool = False,
              progress=None, ingest_progress=None, log=None, docs_done=None, totals: dict | None = None) -> dict:
    rows = ncpqa.subset(ncpqa.load(), limit)
    name = f"ncpqa-{limit or 'all'}"
    index = Index(eval_settings(base, name))
    t0 = time.perf_counter()
    stats = ncpqa.ingest(index, rows, progress=ingest_progress, log=log, force=stale(index), docs_done=docs_done,
                         docs_total=totals and totals["documents"])
    if not stats["failed"]:
        mark_fresh(index)
    ingest_s = time.perf_counter() - t0
    systems = [Ours(index, backend)]
    if baseline:
        from .baseline import Baseline

        systems.append(Baseline(index, index.settings.data_dir / "baseline", progress=ingest_progress, totals=totals))
    if totals:
        totals["answers"](len(rows) * len(systems))
    result = {
        "dataset": "ncpqa", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": str(ncpqa.data_dir()), "questions_run": len(rows), "limit": limit, "order_seed": ncpqa.SHUFFLE_SEED,
        "backend": backend or base.backend, "ingest": {k2: v for k2, v in stats.items() if k2 != "errors"} | {"seconds": round(ingest_s, 1), "errors": stats["errors"][:20]},
        "index": index.catalog.stats(),
    }
    failed = {e.split(":")[0] for e in stats["errors"]}
    result["questions_on_failed_documents"] = sum(1 for r in rows if r["docid"] in failed)
    # A question whose document was deduplicated into another file's is credited on the canonical document.
    duplicates = stats["duplicates"]
    result["deduplicated_documents"] = len(duplicates)
    result["questions_on_deduplicated_documents"] = sum(1 for r in rows if r["docid"] in duplicates)
    result.update(ncpqa.evaluate(rows, systems, k, progress, duplicates))
    # The same figures on the dev half (where retrieval settings are chosen) and the test half (reported).
    dev = {r["id"] for r in ncpqa.split(rows, "dev")}
    for name, summary in result["systems"].items():
        recs = [q[name] for q in result["questions"]]
        summary["splits"] = {part: ncpqa.aggregate([r for r in recs if (r["id"] in dev) == (part == "dev")], k) for part in ("dev", "test")}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def load_floors(path: Path = DEFAULT_FLOORS) -> dict[str, float]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {k: float(v) for k, v in data.get("floors", data).items() if not k.startswith("_")}


def check_floors(result: dict, floors: dict[str, float], system: str | None = None) -> list[str]:
    """The floors a run falls below, as messages (empty when all hold)."""
    metrics = result["systems"][system or next(iter(result["systems"]))]["metrics"]
    out = []
    for key, floor in floors.items():
        value = metrics.get(key)
        if value is None:
            out.append(f"{key}: not measured (floor {floor})")
        elif value < floor:
            out.append(f"{key}: {value:.3f} < floor {floor}")
    return out
