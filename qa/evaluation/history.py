"""The history of evaluation runs, read from the stored reports (`<folder>/<timestamp>/report.json`).

    runs([Path("eval/reports"), data_dir / "eval-reports"]) -> [{"created", "items", "backend", "metrics"}, …]

Invariants: only runs on the seed gold set (the floors of eval/floors.json are about it; NCPQA runs measure other
things) and only their first system (ours, not the baseline); oldest first; at most MAX_RUNS, the latest ones. A
report that cannot be read (half written, hand edited, too big) is skipped, never an error: the page must open.
Nothing returned names a path.
"""
from __future__ import annotations

import json
from pathlib import Path

MAX_RUNS = 30
MAX_REPORT_BYTES = 50 * 1024 * 1024  # a report holds every question's record; a real one is a few MB


def _read(path: Path) -> dict | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_REPORT_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("dataset", "seeds") != "seeds":
        return None
    systems = data.get("systems")
    if not isinstance(systems, dict) or not systems:
        return None
    first = next(iter(systems.values()))
    metrics = first.get("metrics") if isinstance(first, dict) else None
    if not isinstance(metrics, dict):
        return None
    numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    created = data.get("created") if isinstance(data.get("created"), str) else path.parent.name
    return {"created": created[:25], "items": data.get("items") if isinstance(data.get("items"), int) else None,
            "backend": str(data.get("backend") or "")[:40], "metrics": numbers}


def runs(folders: list[Path]) -> list[dict]:
    """Every readable seed-set run in the folders, oldest first, the latest MAX_RUNS."""
    found = []
    for folder in folders:
        try:
            entries = sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []
        except OSError:
            continue
        for entry in entries[-MAX_RUNS * 2:]:
            run = _read(entry / "report.json")
            if run:
                found.append(run)
    found.sort(key=lambda r: r["created"])
    return found[-MAX_RUNS:]
