"""The scale benchmark end to end at a tiny scale: 3 synthetic reports, real segmenter, real embedder, real index."""
from __future__ import annotations

import json

from bench.scale import Options, run, table
from qa.gazetteer import gazetteer
from bench.synthetic import attributed_as, generate, shift_years
from tests.pgserver import both_backends


def test_generator_is_deterministic_and_attributed(tmp_path):
    a = generate(tmp_path / "a", 4)
    b = generate(tmp_path / "b", 6)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b[:4]]  # a smaller corpus is a prefix of a larger one
    for r in b:
        text = (tmp_path / "b" / r.file).read_text(encoding="utf-8")
        region = next(g for g in gazetteer().regions if g.name == r.region and g.province == r.province)
        assert attributed_as(text, region, r.year, r.kind)
        assert text.startswith(f"{r.region}{r.year}年法治政府建设")
        assert "一、" in text and "二、" in text  # outline headings, so section paths exist


def test_years_shift_but_planning_periods_stay():
    text = "2024年,全市对标《法治政府建设实施纲要(2021-2025年)》,2023年以来成效明显,2035年远景目标。"
    assert shift_years(text, 2024, -2) == "2022年,全市对标《法治政府建设实施纲要(2021-2025年)》,2021年以来成效明显,2035年远景目标。"


@both_backends
def test_scale_benchmark_tiny(tmp_path, embed_cache, database_url):
    report = run(Options(scales=[1], reports_per_x=3, embed_cache=embed_cache, probes=3, rounds=1, workdir=tmp_path, database_url=database_url))
    json.dumps(report)  # the report is plain JSON
    (run_,) = report["runs"]
    assert run_["reports"] == 3 and run_["ingest"]["documents"] == 3 and run_["ingest"]["failed"] == 0
    assert run_["ingest"]["chunks"] >= 3 * 8
    assert run_["ingest"]["misattributed"] == 0
    assert set(run_["disk_mb"]) >= {"catalog", "bm25", "chroma", "embed_cache", "total"}
    assert run_["disk_mb"]["chroma"] > 0 and run_["disk_mb"]["bm25"] > 0
    for group in ("all", "seed_questions", "region_probes", "filtered_probes"):
        assert run_["search"]["latency"][group]["n"] > 0
    assert run_["search"]["peak_rss_mb"] > 0 and run_["ingest"]["peak_rss_mb"] > 0
    # A question naming a synthetic report's region and year finds that report, attributed to that region.
    assert run_["search"]["probe_hit_rate"] == 1.0, run_["search"]["misses"]
    assert run_["search"]["filtered_hit_rate"] == 1.0
    assert "| 1x |" in table(report)
    assert run_["ingest"]["cpu_seconds"] > 0 and report["targets"] == []  # targets are checked at 2,000 reports only
    from bench.scale import _scale_run, targets

    checked = targets([_scale_run({**run_, "reports": 2000})])
    assert [t["target"] for t in checked] == ["ingest_s < 600", "ingest_rss_mb < 800", "search_rss_mb < 800", "search_p95_ms < 50", "which_p50_ms < 100"]
    assert all(isinstance(t["met"], bool) and t["value"] is not None for t in checked)
    # With stand-in vectors nothing is embedded: the ingest-time target is not judged from such a run.
    stand_in = {**run_, "reports": 2000, "ingest": {**run_["ingest"], "embedder": "stand-in/" + run_["ingest"]["embedder"]}}
    assert [t["met"] for t in targets([_scale_run(stand_in)])][0] is None
