"""The answer chain (LangChain runnables): analyse → retrieve → select evidence → compose → verify.

Evidence first: the pipeline finds and attributes the evidence itself; an LLM, when configured, only
phrases it; the verifier checks whatever was written and falls back to the extractive answer when the
LLM's text does not survive. An LLM can therefore never make an answer less faithful.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Iterator

from langchain_core.runnables import RunnableLambda

from . import compose, tokens
from .errors import BadRequest
from .evidence import Evidence, content_terms, select
from .index import Index
from .llm import LlamaCppChat, chat_model
from .models import KIND_LABELS, Answer, Citation, Document, Hit
from .prompts import load_prompt
from .query import QueryInfo, analyze, doc_region
from .retrieval import Filters, allowed_docs, search
from .verify import MARKER, verify

MIN_COVERAGE = 0.5  # share of the question's (IDF-weighted) content the best sentence must carry
_CLAIM = re.compile(r"(第)?(\d+(?:\.\d+)?)\s*(%|名|件|个|项|人次|次|家|部|支|万)")
_FOLLOWUP = re.compile(r"^(那|那么|还有|再看看?|换成|如果是|改成)|[呢吗][?？]?$")


class QuestionError(BadRequest, ValueError):
    """A question we will not run (empty, too long, unknown backend); the message says why."""

    code = "bad_question"


@dataclass
class State:
    question: str
    filters: Filters
    backend: str
    history: list[dict] = field(default_factory=list)
    asked: str = ""  # the question as the user typed it
    info: QueryInfo | None = None
    docs: list[Document] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    terms: dict[str, float] = field(default_factory=dict)
    indicator: str | None = None
    facts: list[dict] = field(default_factory=list)
    cites: compose.Citations = field(default_factory=compose.Citations)
    text: str = ""
    refused: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    verification: dict = field(default_factory=dict)
    draft: str | None = None  # what the LLM wrote, before verification


def validate(question: str, max_chars: int) -> str:
    question = (question or "").strip()
    if not question:
        raise QuestionError("问题为空 (empty question)")
    if len(question) > max_chars:
        raise QuestionError(f"问题太长: {len(question)} 字,上限 {max_chars} 字 (question too long)")
    if not re.search(r"[\w\u4e00-\u9fff]", question):
        raise QuestionError("问题中没有文字 (no words in the question)")
    if _SURROGATE.search(question):  # lone UTF-16 halves cannot be encoded back to UTF-8 anywhere downstream
        raise QuestionError("问题中有无效字符 (invalid characters: lone surrogates)")
    return question


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_backend(backend: str | None, settings, configured: bool = False) -> str:
    """The backend to use: a known one (and with `configured`, one set up here), else a QuestionError naming the
    choices. The library checks the name only: a backend that is not set up raises BackendUnavailable when used."""
    from .llm import BACKENDS, available_backends

    backend = backend or settings.backend
    if backend not in BACKENDS:
        raise QuestionError(f"未知的后端 {backend!r},可选: {', '.join(BACKENDS)} (unknown backend)", code="bad_backend")
    if configured and backend not in available_backends(settings):
        raise QuestionError(f"后端 {backend} 未配置,可用: {', '.join(available_backends(settings))} (backend not configured)", code="backend_unavailable")
    return backend


def resolve_followup(question: str, history: list[dict], docs: list[Document]) -> str:
    """«那新乡呢?» after a question about 克拉玛依 becomes that question about 新乡."""
    previous = next((h.get("question") for h in reversed(history or []) if h.get("question")), None)
    if not previous or len(question) > 20 or not _FOLLOWUP.search(question):
        return question
    now, before = analyze(question, docs), analyze(previous, docs)
    rewritten = previous
    if now.regions or now.unknown_regions:
        from .gazetteer import gazetteer

        new_name = (now.regions[0].name if now.regions else now.unknown_regions[0])
        old_aliases = [a for a, _ in gazetteer().mentions(previous)]
        if old_aliases:
            for alias in old_aliases:
                rewritten = rewritten.replace(alias, new_name, 1) if alias == old_aliases[0] else rewritten.replace(alias, "")
        else:
            rewritten = new_name + rewritten
    if now.years:
        if before.years:
            rewritten = re.sub(str(before.years[0]), str(now.years[0]), rewritten)
        else:
            rewritten = f"{now.years[0]}年{rewritten}"
    return rewritten if rewritten != previous else question


# ---------------------------------------------------------------- steps

def _timed(name):
    def wrap(fn):
        def run(state: State) -> State:
            t0 = time.perf_counter()
            out = fn(state)
            state.timings[name] = state.timings.get(name, 0.0) + time.perf_counter() - t0
            return out

        return run

    return wrap


def make_steps(index: Index):
    @_timed("analysis")
    def analyse(state: State) -> State:
        state.docs = index.catalog.documents()
        state.asked = state.question
        state.question = resolve_followup(state.question, state.history, state.docs)
        state.info = analyze(state.question, state.docs)
        state.facts = index.catalog.facts()
        # Longest first, then by name: sorting a set by length alone kept its hash order among equal lengths, so
        # which indicator won (and one gold answer) changed with PYTHONHASHSEED.
        known = sorted({f["indicator"] for f in state.facts}, key=lambda k: (-len(k), k))
        state.indicator = next((k for k in known if k in state.question), None) or state.info.indicator
        return state

    @_timed("retrieval")
    def retrieve(state: State) -> State:
        info = state.info
        if info.qtype in ("which", "compare"):
            state.hits = search(index, state.question, filters=state.filters, per_doc=2, info=info)
        else:
            state.hits = search(index, state.question, k=8, filters=state.filters, info=info)
        return state

    @_timed("evidence")
    def gather(state: State) -> State:
        lexical = index.lexical()
        state.terms = content_terms(state.question, state.info, lexical)
        state.evidence = select(state.hits, state.question, state.info, lexical, limit=12)
        return state

    @_timed("composition")
    def write(state: State) -> State:
        docs = {d.doc_id: d for d in allowed_docs(state.docs, state.filters, state.info)}
        facts_text = facts_first(state, docs, index)
        if facts_text:
            state.text = facts_text
            if state.backend != "extractive":
                state.draft = llm_draft(state, index)
            return state
        reason = refusal_reason(state)
        if reason:
            state.refused, state.text = True, reason
            return state
        state.text = extractive(state)
        if not state.text:
            state.refused, state.text = True, "文档中没有找到能回答该问题的内容。"
            return state
        if state.backend != "extractive":
            state.draft = llm_draft(state, index)
        return state

    @_timed("verification")
    def check(state: State) -> State:
        if state.refused:
            state.verification = {"sentences": 0, "supported": 0, "removed": []}
            return state
        fallback = False
        if state.draft is not None:
            text, report = verify(state.draft, state.cites.items)
            if text.strip() and not report.removed:
                state.text = text
            else:
                fallback = True  # the LLM's answer did not hold up: answer from the evidence instead
                llm_report = report.to_dict()
        text, report = verify(state.text, state.cites.items)
        state.text, state.cites.items = renumber(text, state.cites.items)
        state.verification = report.to_dict()
        if state.draft is not None:
            state.verification["llm_draft"] = state.draft
            state.verification["llm_fallback"] = fallback
            if fallback:
                state.verification["llm_removed"] = llm_report["removed"]
        if not state.text.strip():
            state.refused, state.text = True, "文档中没有找到能回答该问题的内容。"
        elif state.info:
            state.text = note_missing_regions(state.text, state.info)
        return state

    return analyse, retrieve, gather, write, check


def build_chain(index: Index):
    analyse, retrieve, gather, write, check = make_steps(index)
    return RunnableLambda(analyse) | RunnableLambda(retrieve) | RunnableLambda(gather) | RunnableLambda(write) | RunnableLambda(check)


# ---------------------------------------------------------------- decisions

def note_missing_regions(text: str, info) -> str:
    """«克拉玛依市和上海市…» with no report for 上海市: the answer for 克拉玛依市, then a statement that 上海市 has none.

    Added after verification, as a statement of absence (it cites nothing and holds no figure, so verify keeps it)."""
    if not (info.unknown_regions and info.regions):
        return text
    return f"{text.rstrip()}\n文档中没有找到关于{'、'.join(info.unknown_regions)}的报告。"


def refusal_reason(state: State) -> str | None:
    info, ev = state.info, state.evidence
    if info.unknown_regions and not info.regions:
        return f"文档中没有找到关于{'、'.join(info.unknown_regions)}的报告。"
    if not ev:
        return "文档中没有找到与问题相关的内容。"
    scope = allowed_docs(state.docs, state.filters, info)
    if info.years:
        available = {d.year for d in scope}
        for e in ev[:5]:
            available |= {int(y) for y in re.findall(r"(?:19|20)\d{2}", e.chunk.text + e.chunk.section)}
        if not set(info.years) & available:
            where = "、".join(r.name for r in info.regions)
            return f"文档中没有找到{where}{'、'.join(map(str, info.years))}年的相关内容。"
    if ev[0].coverage < MIN_COVERAGE:
        return "文档中没有找到能回答该问题的内容。"
    if info.qtype == "number":
        good = [e for e in ev[:4] if e.coverage >= MIN_COVERAGE and _has_figure(e.text, state.indicator) and _year_ok(e, info)]
        if not good:
            return "文档中没有给出该问题所问的具体数字。"
    return None


# A figure of some kind: Arabic digits with an optional 余/多 and a unit (30余次, 5000字, 3个工作日), or the Chinese
# forms that are never names of measures (半个工作日, 第三批). Bare Chinese numerals are left out on purpose: 三项制度 and
# 两个责任 are names, and counting them would stop refusals of questions whose number is not in the reports.
_COUNT = re.compile(
    r"\d+(?:\.\d+)?\s*(?:余|多)?\s*(?:万|亿)?\s*(?:%|件|个|项|人|名|次|家|元|部|支|条|场|所|户|起|批|期|本|份|卷|篇|倍|天|日|小时|学时|课时|字|米|公里|亩|吨|岁|周)"
    r"|半个?(?:工作日|小时|天|月)|第[一二三四五六七八九十]+(?:批|名|位)"
)


def _has_figure(text: str, indicator: str | None) -> bool:
    """Does the sentence state a figure of the kind asked (a rate needs a percentage; 〔2021〕53号 is no figure)?"""
    text = re.sub(r"〔\d+〕\d+号|(?:19|20)\d{2}年", "", text)
    if indicator and re.search(r"(率|比例|占比)$", indicator):
        return bool(re.search(r"\d+(?:\.\d+)?\s*%", text))
    return bool(_COUNT.search(text))


def _year_ok(ev: Evidence, info: QueryInfo) -> bool:
    return not info.years or ev.doc.year in info.years or any(str(y) in ev.text for y in info.years)


def extractive(state: State) -> str:
    info, cites = state.info, state.cites
    docs = {d.doc_id: d for d in allowed_docs(state.docs, state.filters, info)}
    if info.qtype == "compare" and len(info.regions) >= 2:
        text = compose.compare_answer(info, None, [], state.evidence, docs, {}, cites, state.terms)
        if text:
            return text
    best = state.evidence[0].coverage
    floor = MIN_COVERAGE if info.qtype == "list" else max(MIN_COVERAGE, 0.75 * best)
    pool = [e for e in state.evidence if e.coverage >= floor and _year_ok(e, info)] or state.evidence[:1]
    limit = {"list": 5, "which": 6}.get(info.qtype, 2)
    lines = []
    premise, used = premise_check(state, pool)
    if premise:
        lines.append(premise)
        pool = [e for e in pool if e is not used]
    if pool:
        lines.append(compose.sentences_answer(pool, state.terms, cites, limit, keep_figures=info.qtype in ("number", "fact", "yesno")))
    return "\n".join(lines)


def facts_first(state: State, docs: dict[str, Document], index: Index) -> str | None:
    """Questions about an indicator's value across regions, or whether a region reached a level, read the facts table."""
    info = state.info
    if not state.indicator or not any(compose.indicator_matches(state.indicator, f) for f in state.facts):
        return None
    limit = compose.threshold(state.question)
    if info.qtype not in ("which", "compare") and not (info.regions and (limit or info.qtype == "yesno")):
        return None
    if info.qtype != "which" and info.regions:
        scoped = {k: d for k, d in docs.items() if any(r == doc_region(d) for r in info.regions)} or docs
        if info.years:
            scoped = {k: d for k, d in scoped.items() if d.year in info.years} or scoped
        docs = scoped
    chunk_ids = list({f["chunk_id"] for f in state.facts})
    chunks = {c.chunk_id: c for c in index.catalog.chunks(chunk_ids)}
    if info.qtype == "compare":
        return compose.compare_answer(info, state.indicator, state.facts, state.evidence, docs, chunks, state.cites, state.terms)
    return compose.facts_answer(state.question, state.indicator, state.facts, docs, chunks, state.cites)


def premise_check(state: State, pool: list[Evidence]) -> tuple[str | None, Evidence | None]:
    """A figure in the question that the evidence contradicts (第4名 where the report says 第40名) is corrected."""
    claims = [m for m in _CLAIM.finditer(state.question) if not re.fullmatch(r"(19|20)\d{2}", m.group(2))]
    if not claims:
        return None, None
    texts = " ".join(e.text for e in pool[:3])
    for m in claims:
        if m.group(0).replace(" ", "") in texts.replace(" ", ""):
            continue
        unit = m.group(3)
        for ev in pool[:3]:
            figures = [f for f in _CLAIM.finditer(ev.text) if f.group(3) == unit and f.group(0) != m.group(0)]
            if figures:
                return f"问题中的说法与报告不符,报告原文为:{compose.end_sentence(ev.text)}{state.cites.cite_evidence(ev)}", ev
    return None, None


def llm_draft(state: State, index: Index) -> str:
    """Ask the configured LLM to phrase an answer from the numbered evidence."""
    cite_all(state)
    model = chat_model(index.settings, state.backend)
    return str(model.invoke(_messages_for(state, index, model)).content)


def cite_all(state: State) -> None:
    """Every piece of evidence gets a number the LLM can cite."""
    for ev in state.evidence[:8]:
        state.cites.cite_evidence(ev)


def renumber(text: str, citations: list[Citation]) -> tuple[str, list[Citation]]:
    """Keep only cited sources, numbered 1.. in order of first mention."""
    order: list[int] = []
    for m in MARKER.finditer(text):
        n = int(m.group(1))
        if n not in order:
            order.append(n)
    mapping = {old: new for new, old in enumerate(order, 1)}
    by_n = {c.n: c for c in citations}
    kept = []
    for old in order:
        if old in by_n:
            c = by_n[old]
            kept.append(Citation(**{**c.__dict__, "n": mapping[old]}))
    text = MARKER.sub(lambda m: f"[{mapping.get(int(m.group(1)), m.group(1))}]", text)
    return text, kept


# ---------------------------------------------------------------- entry points

def ask(index: Index, question: str, filters: Filters | None = None, history: list[dict] | None = None, backend: str | None = None) -> Answer:
    backend = check_backend(backend, index.settings)
    question = validate(question, index.settings.max_question_chars)
    state = State(question=question, filters=filters or Filters(), backend=backend, history=history or [])
    t0 = time.perf_counter()
    with index.catalog.snapshot():  # documents, facts and chunks of one catalogue version
        state = build_chain(index).invoke(state)
    state.timings["total"] = time.perf_counter() - t0
    return to_answer(state)


def ask_stream(index: Index, question: str, filters: Filters | None = None, history: list[dict] | None = None, backend: str | None = None) -> Iterator[dict]:
    """Events: {"type": "token", "text"} while the answer is written, then {"type": "answer", "answer"}.

    LLM tokens stream as the model writes them; the final, verified answer follows and replaces them.
    """
    backend = check_backend(backend, index.settings)
    question = validate(question, index.settings.max_question_chars)
    analyse, retrieve, gather, write, check = make_steps(index)
    state = State(question=question, filters=filters or Filters(), backend="extractive", history=history or [])
    t0 = time.perf_counter()
    with index.catalog.snapshot():  # not across the yields below: a streamed generator may resume on another thread
        state = write(gather(retrieve(analyse(state))))
    if backend != "extractive" and not state.refused:
        state.backend = backend
        t1 = time.perf_counter()
        model = chat_model(index.settings, backend)
        draft = []
        cite_all(state)
        for chunk in model.stream(_messages_for(state, index, model)):
            draft.append(str(chunk.content))
            yield {"type": "token", "text": str(chunk.content)}
        state.draft = "".join(draft)
        state.timings["composition"] = state.timings.get("composition", 0) + time.perf_counter() - t1
    else:
        for piece in re.findall(r".{1,12}", state.text, flags=re.S):
            yield {"type": "token", "text": piece}
    with index.catalog.snapshot():
        state = check(state)
    state.timings["total"] = time.perf_counter() - t0
    yield {"type": "answer", "answer": to_answer(state)}


def _messages_for(state: State, index: Index, model):
    """The prompt, with as much evidence as fits the model's window (counted with its own tokenizer if it has one)."""
    s = index.settings
    count = model.get_num_tokens if isinstance(model, LlamaCppChat) else tokens.count
    item, system, user = load_prompt("evidence_item"), load_prompt("answer_system"), load_prompt("answer_user")
    budget = s.llm_ctx - s.llm_max_tokens - count(system + user + state.question) - 64
    parts = []
    for c in state.cites.items:
        text = item.format(n=c.n, region=c.region, year=f"{c.year}年" if c.year else "年份不详", kind=KIND_LABELS.get(c.kind, c.kind), section=c.section or "—", text=c.text)
        if count("\n".join(parts + [text])) > budget:
            break
        parts.append(text)
    return [("system", system), ("human", user.format(evidence="\n".join(parts), question=state.question))]


def to_answer(state: State) -> Answer:
    nearest = [h.to_dict() for h in state.hits[:3]] if state.refused else []
    return Answer(
        question=state.asked or state.question,
        text=state.text,
        citations=[] if state.refused else state.cites.items,
        refused=state.refused,
        backend=state.backend,
        timings=state.timings,
        verification={**state.verification, "resolved_question": state.question, "analysis": state.info.to_dict() if state.info else {}},
        nearest=nearest,
    )
