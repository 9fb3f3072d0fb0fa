"""`qa bench-load`: many concurrent clients against a real server over loopback, with uploads during the run.

A fresh server process (`qa serve`) is started on a temporary data folder holding the seeds; N client
threads send /api/ask and /api/search for a fixed time; every `upload_every` seconds an admin client uploads
a new report. Afterwards every upload must be listed, searchable and backed by vectors, and the catalogue
must pass SQLite's integrity check: "zero errors and zero lost writes" is checked, not assumed.
"""
from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.seeds import _percentile
from qa.settings import PROJECT_ROOT, Settings

QUESTIONS = [PROJECT_ROOT / "tests" / "data" / "retrieval.jsonl", PROJECT_ROOT / "tests" / "data" / "answers.jsonl"]
ADMIN_KEY = "bench-admin"
CLIENT_KEYS = [f"bench-client-{n}" for n in range(200)]  # each client its own key, as portal integrations have
# Real regions absent from the seeds, so an upload's hits cannot come from anywhere else.
UPLOAD_REGIONS = ["阿勒泰市", "哈密市", "喀什市", "和田市", "博乐市", "塔城市", "阜康市", "奎屯市", "伊宁市", "昌吉市"]


@dataclass
class Calls:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self, seconds: float) -> dict:
        ms = lambda q: round(_percentile(self.latencies, q) * 1000, 1)  # noqa: E731
        return {"ok": len(self.latencies), "errors": len(self.errors), "per_second": round(len(self.latencies) / seconds, 2),
                "p50_ms": ms(0.5), "p95_ms": ms(0.95), "p99_ms": ms(0.99), "max_ms": ms(1.0), "first_errors": self.errors[:5]}


def upload_text(region: str, year: int, marker: int) -> str:
    """A small report whose figures (the marker) exist nowhere else."""
    return (f"{region}{year}年法治政府建设情况报告\n\n一、主要工作成效\n\n"
            f"{year}年,{region}全面推进严格规范公正文明执法,共开展行政执法案卷评查{marker % 9 + 2}次,评查案卷{marker}卷。\n"
            f"{region}深化普法宣传,组织宪法宣传周活动{marker % 50 + 10}场,群众满意度达到9{marker % 10}.5%。\n\n"
            "二、存在的不足\n\n基层法治队伍力量仍然薄弱,部分执法人员业务能力有待提升。\n")


def _questions() -> list[str]:
    out = []
    for path in QUESTIONS:
        out += [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def start_server(data_dir: Path, base: Settings, log_path: Path, timeout: float = 600) -> tuple[subprocess.Popen, str]:
    """`qa serve` in its own process (it indexes the seeds on first start) and wait until it answers."""
    import httpx

    from qa.web.testing import free_port

    port = free_port()
    env = dict(os.environ, QA_DATA_DIR=str(data_dir), QA_EMBED_CACHE=str(base.embed_cache_path), QA_ADMIN_KEYS=ADMIN_KEY,
               QA_API_KEYS=",".join(CLIENT_KEYS), QA_RATE_LIMIT="0", QA_HOST="127.0.0.1", QA_PORT=str(port))
    env.pop("QA_CHROMA_URL", None)
    if base.chroma_url:
        env["QA_CHROMA_URL"] = base.chroma_url
    proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve"], env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"server not ready within {timeout:.0f}s; see {log_path}")


def run_load(base: Settings, clients: int = 20, seconds: float = 60, upload_every: float = 15, ask_share: float = 0.5, seed: int = 7) -> dict:
    import httpx

    questions = _questions()
    with tempfile.TemporaryDirectory(prefix="qa-load-") as tmp:
        data_dir = Path(tmp) / "data"
        t0 = time.perf_counter()
        proc, url = start_server(data_dir, base, Path(tmp) / "server.log")
        startup = time.perf_counter() - t0
        try:
            before = httpx.get(f"{url}/healthz", timeout=30).json()
            calls = {"ask": Calls(), "search": Calls(), "upload": Calls()}
            uploads: list[dict] = []
            stop = time.perf_counter() + seconds

            def client(n: int) -> None:
                rng = random.Random(seed * 1000 + n)
                with httpx.Client(base_url=url, timeout=120, headers={"X-API-Key": CLIENT_KEYS[n % len(CLIENT_KEYS)]}) as http:
                    while time.perf_counter() < stop:
                        q = rng.choice(questions)
                        kind = "ask" if rng.random() < ask_share else "search"
                        t = time.perf_counter()
                        try:
                            r = http.post("/api/ask", json={"question": q}) if kind == "ask" else http.get("/api/search", params={"q": q, "k": 5})
                            ok = r.status_code == 200 and (("answer" in r.json()) if kind == "ask" else ("results" in r.json()))
                            problem = None if ok else f"{r.status_code} {r.text[:120]}"
                        except Exception as exc:  # a dropped connection or a timeout is an error too
                            problem = f"{type(exc).__name__}: {exc}"
                        (calls[kind].errors.append(problem) if problem else calls[kind].latencies.append(time.perf_counter() - t))

            def uploader() -> None:
                rng = random.Random(seed)
                with httpx.Client(base_url=url, timeout=300, headers={"X-API-Key": ADMIN_KEY}) as http:
                    i = 0
                    while time.perf_counter() + 1 < stop:
                        time.sleep(min(upload_every, max(0.0, stop - time.perf_counter() - 1)))
                        region, year, marker = UPLOAD_REGIONS[i % len(UPLOAD_REGIONS)], 2020 + i % 5, rng.randrange(100, 9999)
                        name = f"load-{i}.txt"
                        t = time.perf_counter()
                        try:
                            r = http.post("/api/documents", files={"file": (name, upload_text(region, year, marker).encode(), "text/plain")})
                            if r.status_code == 201:
                                calls["upload"].latencies.append(time.perf_counter() - t)
                                uploads.append({"region": region, "year": year, "marker": marker, "doc_ids": [d["doc_id"] for d in r.json()["documents"]]})
                            else:
                                calls["upload"].errors.append(f"{r.status_code} {r.text[:120]}")
                        except Exception as exc:
                            calls["upload"].errors.append(f"{type(exc).__name__}: {exc}")
                        i += 1

            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            if upload_every > 0:
                threads.append(threading.Thread(target=uploader))
            t_run = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            elapsed = time.perf_counter() - t_run
            checks = verify(url, data_dir, before, uploads)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    errors = sum(len(c.errors) for c in calls.values())
    return {
        "clients": clients, "seconds": round(elapsed, 1), "server_startup_s": round(startup, 1),
        "requests_per_second": round(sum(len(c.latencies) for k, c in calls.items() if k != "upload") / elapsed, 2),
        **{k: c.summary(elapsed) for k, c in calls.items()},
        "errors": errors, "uploads": len(uploads), "lost_writes": checks["lost"], "checks": checks,
        "ok": errors == 0 and not checks["lost"] and checks["integrity"] == "ok" and checks["consistent"],
        "embedding_model": before.get("embedding_model"), "load_average": os.getloadavg(),
    }


def verify(url: str, data_dir: Path, before: dict, uploads: list[dict]) -> dict:
    """Every upload is listed, and its own figure is found by search in its own document; the stores agree."""
    import httpx

    lost = []
    with httpx.Client(base_url=url, timeout=120, headers={"X-API-Key": ADMIN_KEY}) as http:
        listed = {d["doc_id"] for d in http.get("/api/documents").json()["documents"]}
        for up in uploads:
            hits = http.get("/api/search", params={"q": f"{up['region']}{up['year']}年评查案卷{up['marker']}卷", "k": 5}).json()["results"]
            found = any(h["doc_id"] in up["doc_ids"] and f"评查案卷{up['marker']}卷" in h["text"] for h in hits)
            if not found or not set(up["doc_ids"]) <= listed:
                lost.append(up)
        health = http.get("/healthz").json()
    with sqlite3.connect(data_dir / "catalog.sqlite") as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    expected = (before.get("documents") or 0) + sum(len(u["doc_ids"]) for u in uploads)
    vectors = health.get("vectors") or {}
    return {
        "lost": lost,
        "documents_before": before.get("documents"), "documents_after": health.get("documents"), "expected_after": expected,
        "chunks": health.get("chunks"), "vectors": vectors.get("vectors"),
        "consistent": bool(vectors.get("consistent")) and health.get("documents") == expected,
        "integrity": integrity,
    }


def format_report(r: dict) -> str:
    lines = [f"{r['clients']} clients × {r['seconds']} s over loopback ({r['embedding_model']}; load average {', '.join(f'{x:.1f}' for x in r['load_average'])})",
             f"{'':8} {'ok':>6} {'errors':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"]
    for kind in ("ask", "search", "upload"):
        s = r[kind]
        lines.append(f"{kind:8} {s['ok']:>6} {s['errors']:>6} {s['per_second']:>7} {s['p50_ms']:>8} {s['p95_ms']:>8} {s['p99_ms']:>8}")
    c = r["checks"]
    lines.append(f"throughput {r['requests_per_second']} req/s; uploads {r['uploads']}, lost {len(r['lost_writes'])}; documents {c['documents_before']} → {c['documents_after']} "
                 f"(expected {c['expected_after']}); chunks {c['chunks']}, vectors {c['vectors']}; catalogue integrity {c['integrity']}")
    lines.append("PASS" if r["ok"] else "FAIL")
    return "\n".join(lines)


def register(app) -> None:
    """Adds `qa bench-load` to the command line."""
    import typer

    @app.command("bench-load")
    def bench_load(
        clients: int = typer.Option(20, help="concurrent clients, each with its own API key"),
        seconds: float = typer.Option(60, help="how long the clients send requests"),
        upload_every: float = typer.Option(15, help="seconds between uploads during the run (0: none)"),
        as_json: bool = typer.Option(False, "--json"),
        out: Path = typer.Option(None, help="also write the JSON report to this file"),
    ):
        """Load test over loopback: N clients on /api/ask and /api/search plus uploads; checks nothing was lost."""
        from qa.settings import get_settings

        report = run_load(get_settings(), clients, seconds, upload_every)
        text = json.dumps(report, ensure_ascii=False, indent=2)
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
        print(text if as_json else format_report(report))
        raise typer.Exit(0 if report["ok"] else 1)
