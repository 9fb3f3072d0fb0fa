"""Evaluation: gold loading, retrieval/answer/faithfulness metrics, a plain LangChain baseline, the NCPQA
benchmark and the report (`qa eval`). Nothing here changes what the pipeline answers; it only measures it."""


def run_eval(index, gold_path=None, k: int = 5, backend: str | None = None, baseline: bool = False, out=None) -> dict:
    """Evaluate `index` (as it is, e.g. the web app's) on a gold file; write the report; return
    {"summary": <metrics, by type, latency>, "report": <folder with report.html/report.json>, "plots": []}.

    The web app's evaluation page calls this. `qa eval` instead builds a separate index of the seeds.
    """
    from . import report
    from .run import DEFAULT_GOLD, DEFAULT_OUT, run_seeds

    result = run_seeds(index, gold_path or DEFAULT_GOLD, k=k, backend=backend, baseline=baseline)
    folder = report.write(result, out or DEFAULT_OUT)
    return {"summary": report.summary(result), "report": str(folder / "report.html"), "plots": []}
