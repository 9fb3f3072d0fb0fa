"""`qa eval`: registered on the main typer app by qa/cli.py (`register(app)`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_command(
        gold: Path = typer.Option(None, "--gold", help="Gold JSONL (default eval/gold.jsonl); any file in the schema of docs/eval.md."),
        k: int = typer.Option(5, "--k", "-k", help="Top k chunks for the retrieval metrics."),
        backend: Optional[str] = typer.Option(None, "--backend", help="extractive (default) / openai / local"),
        baseline: bool = typer.Option(False, "--baseline", help="Also run the plain LangChain RAG baseline and compare."),
        dataset: str = typer.Option("seeds", "--dataset", help="seeds (the gold set) or ncpqa (the outside benchmark)."),
        limit: Optional[int] = typer.Option(None, "--limit", help="NCPQA: only the first N questions of a fixed shuffle."),
        sample_size: Optional[int] = typer.Option(None, "--sample", help="Seeds: a fixed seeded subset of about N gold items with every type (for slow backends)."),
        docs: Optional[Path] = typer.Option(None, "--docs", help="Folder of the documents the gold evidence names (default: the seeds)."),
        input: Optional[Path] = typer.Option(None, "--input", help="Score these answers (JSONL from `qa ask --input GOLD --json`) instead of asking."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
        out: Optional[Path] = typer.Option(None, "--out", help="Reports folder (default eval/reports); a <timestamp>/ folder is written in it."),
        check_floors: bool = typer.Option(False, "--check-floors", help="Exit 1 when a gated metric falls below eval/floors.json."),
        floors: Optional[Path] = typer.Option(None, "--floors", help="Floors file (default eval/floors.json)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars (errors and the summary still print)."),
    ):
        """Evaluate retrieval, answers, faithfulness and latency on the gold set (or NCPQA), with an optional baseline."""
        from tqdm import tqdm

        from ..settings import Settings
        from . import report, run
        from .gold import GoldError

        err = Console(stderr=True)
        base = Settings()
        if dataset not in ("seeds", "ncpqa"):
            raise typer.BadParameter("--dataset must be seeds or ncpqa")
        if dataset == "ncpqa" and (gold or input or check_floors):
            raise typer.BadParameter("--gold, --input and --check-floors apply to the seeds dataset only")
        # Three bars on stderr, each with its total and the time left: documents indexed, chunks embedded (total
        # known per batch), answers scored. Only for work that takes a while (delay): a cached run prints just the
        # summary. None on --json, --quiet, or when stderr is not a terminal (logs, CI).
        hide = as_json or quiet or not sys.stderr.isatty()
        bars = [tqdm(unit=unit, desc=desc, disable=hide, file=sys.stderr, delay=2, position=n, leave=n == 0, dynamic_ncols=True)
                for n, (desc, unit) in enumerate([("evaluating", "answer"), ("documents", "doc"), ("embedding", "chunk")])]
        bar, docs_bar, ingest_bar = bars
        totals = {name: _total_setter(b) for name, b in zip(("answers", "documents", "chunks"), bars)}
        try:
            if dataset == "seeds":
                index = run.seed_index(base, docs, progress=ingest_bar.update, files_done=docs_bar.update, totals=totals)
                result = run.run_seeds(index, gold or run.DEFAULT_GOLD, k, backend, baseline, input,
                                       progress=bar.update, baseline_progress=ingest_bar.update, totals=totals, sample_size=sample_size)
            else:
                result = run.run_ncpqa(base, limit, k, backend, baseline, progress=bar.update, ingest_progress=ingest_bar.update,
                                       docs_done=docs_bar.update, totals=totals)
        except GoldError as exc:
            err.print(f"[red]{exc}[/]")
            raise typer.Exit(2)
        except (FileNotFoundError, ValueError, RuntimeError) as exc:
            err.print(f"[red]{exc}[/]")
            raise typer.Exit(2)
        finally:
            for b in reversed(bars):
                b.close()
        problems = []
        if check_floors:
            result["floors"] = run.load_floors(floors or run.DEFAULT_FLOORS)
            problems = run.check_floors(result, result["floors"])
            result["floors_failed"] = problems
        folder = report.write(result, out or run.DEFAULT_OUT)
        if as_json:
            sys.stdout.write(json.dumps({**report.summary(result), "report": str(folder)}, ensure_ascii=False) + "\n")
        else:
            report.print_summary(result, Console())
            err.print(f"report: {folder / 'report.html'}")
        if check_floors:
            for p in problems:
                err.print(f"[red]below floor[/] {p}")
            if problems:
                raise typer.Exit(1)
            err.print("[green]all floors hold[/]")


def _total_setter(bar):
    """A bar's total, set once the work is counted; a bar set again (a second phase) starts from zero."""
    def set_total(n: int) -> None:
        if bar.total is not None or bar.n:
            bar.reset(total=n)
        else:
            bar.total = n
            bar.refresh()

    return set_total
