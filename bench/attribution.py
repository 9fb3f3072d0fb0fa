"""Per-field attribution accuracy on the test corpus (tests/data/docs/{dev,test}/expected.yaml), through the real
loader and segmenter (no index): `python bench/attribution.py [dev|test] [--json]`.

Runs against whatever `qa` package is importable, so the same script measures old code (PYTHONPATH=<old checkout>)
and new. A field the old code does not have counts as its empty value (department "", year_end None).
Files marked `duplicate_of` are skipped here (that is an ingest-time check, see tests/test_attribution.py).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import yaml

if not os.environ.get("PYTHONPATH"):  # this checkout's qa, not an installed one (PYTHONPATH=<old checkout> measures that)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.loaders import LoadError, load_path
from qa.segment import segment

DOCS = Path(__file__).resolve().parent.parent / "tests" / "data" / "docs"
FIELDS = ("region", "province", "level", "year", "year_end", "kind", "department", "published")


def expected_docs(entry: dict) -> list[dict]:
    return [{"year_end": None, "department": "", "published": None, **d} for d in entry.get("docs", [])]


def measure(part: str) -> dict:
    manifest = yaml.safe_load((DOCS / part / "expected.yaml").read_text(encoding="utf-8"))
    right = {f: 0 for f in FIELDS}
    right["one document per file"] = 0
    total, files, seconds, misses = 0, 0, [], []
    for entry in manifest:
        if entry.get("duplicate_of"):
            continue
        files += 1
        want = expected_docs(entry)
        began = time.perf_counter()
        try:
            got = [doc for doc, _ in segment(load_path(DOCS / part / entry["file"], entry["file"]))]
        except LoadError as exc:
            got, misses = [], misses + [f"{entry['file']}: {exc}"]
        seconds.append(time.perf_counter() - began)
        right["one document per file"] += len(got) == len(want)
        for i, exp in enumerate(want):
            total += 1
            doc = got[i] if i < len(got) else None
            for f in FIELDS:
                value = getattr(doc, f, "" if f == "department" else None) if doc else "<missing>"
                if value == exp[f]:
                    right[f] += 1
                else:
                    misses.append(f"{entry['file']} {f}: {value!r} != {exp[f]!r}")
    accuracy = {f: round(right[f] / total, 3) for f in FIELDS}
    accuracy["one document per file"] = round(right["one document per file"] / files, 3)
    return {"part": part, "documents": total, "files": files, "accuracy": accuracy,
            "segment_ms_per_file": round(1000 * sum(seconds) / len(seconds), 1), "misses": misses}


if __name__ == "__main__":
    parts = [a for a in sys.argv[1:] if not a.startswith("--")] or ["dev", "test"]
    for part in parts:
        result = measure(part)
        if "--json" in sys.argv:
            print(json.dumps(result, ensure_ascii=False, indent=1))
        else:
            print(f"{part}: {result['documents']} documents, {result['segment_ms_per_file']} ms/file")
            for field, acc in result["accuracy"].items():
                print(f"  {field:24s} {acc:.3f}")
            for miss in result["misses"]:
                print("   ", miss)
