"""The wheel, installed without the checkout: every subpackage and the prompt templates are in it, and the
commands a user runs first (`qa ingest`, `qa docs`, `qa ask`) work from a folder that is not the project.

The wheel is built and installed (no dependencies: those are this environment's) into a folder of its own,
which comes first on the path, and everything runs from a temporary working directory.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from qa.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

REPORT = """福海县2024年法治政府建设情况报告

一、主要工作成效

2024年,福海县行政机关负责人出庭应诉率达到100%,共办理行政复议案件31件。
福海县持续深化“放管服”改革,政务服务事项全部实现网上可办,审批时限平均压缩了四成。
全县组织行政执法人员专题培训12场次,开展行政执法案卷评查两次,发现并整改问题27个。

二、存在的不足

基层执法力量仍然薄弱,部分乡镇法治审核人员配备不足。
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(PROJECT_ROOT)], check=True, timeout=300,
                   capture_output=True)
    wheel = next(out.glob("*.whl"))
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True, timeout=300,
                   capture_output=True)
    return wheel, target


def test_the_wheel_holds_every_subpackage_and_the_prompts_but_no_dev_tools(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("qa/web/app.py", "qa/web/guard.py", "qa/service.py", "qa/evaluation/run.py", "qa/prompt_templates/answer_system.txt"):
        assert needed in names, needed
    assert not any(n.startswith(("bench/", "tests/")) or "bench_" in n or "synthetic" in n for n in names)


def test_qa_runs_from_the_installed_wheel_outside_the_checkout(installed, tmp_path, embed_cache):
    _, target = installed
    env = {**os.environ, "PYTHONPATH": str(target), "QA_DATA_DIR": str(tmp_path / "data"), "QA_EMBED_CACHE": str(embed_cache)}
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "fuhai.txt").write_text(REPORT, encoding="utf-8")

    def qa(*args):
        return subprocess.run([sys.executable, "-m", "qa.cli", *args], cwd=work, env=env, capture_output=True, text=True, timeout=600)

    where = subprocess.run([sys.executable, "-c", "import qa, qa.prompts; print(qa.__file__); print(qa.prompts.load_prompt('answer_system')[:10])"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0 and where.stdout.startswith(str(target)), where.stdout + where.stderr
    assert qa("ingest", "fuhai.txt").returncode == 0
    docs = qa("docs", "--json")
    assert docs.returncode == 0 and "福海县" in docs.stdout, docs.stderr
    ask = qa("ask", "福海县行政机关负责人出庭应诉率是多少?", "--json")
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert not answer["refused"] and "100%" in answer["answer"] and answer["citations"]
    bad = qa("ask", "福海县?", "--backend", "nope")
    assert bad.returncode != 0 and "未知的后端" in (bad.stdout + bad.stderr)
    assert "bench" not in qa("--help").stdout  # dev tools stay in the checkout
