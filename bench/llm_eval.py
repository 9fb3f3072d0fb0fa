"""The local LLM against the extractive answer on the gold set, in one run (not in CI).

    python bench/llm_eval.py [--sample N] [--backend local] [--drafts FILE] [--out FILE]

The same systems and metrics as `qa eval --backend local` (qa/evaluation/run.py runs the LLM backend and the
extractive one side by side), plus a record of every draft: FILE keeps (prompt hash → draft, generation
seconds) as JSON lines. A run that is stopped resumes from it, and a change to what happens *after* the draft
(verification, the keep-everything rule) is re-measured on the very same drafts without generating them again;
their latency is the generation time recorded with them plus this run's own pipeline time. A change to the prompt
changes the hash, so such drafts are generated anew. Prints the per-type table of docs/eval.md.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from langchain_core.language_models.chat_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402

import qa.answer  # noqa: E402
from qa.evaluation import run  # noqa: E402
from qa.evaluation.gold import TYPES, load_gold, resolve_evidence  # noqa: E402
from qa.evaluation.runner import evaluate  # noqa: E402
from qa.evaluation.systems import Ours  # noqa: E402
from qa.settings import Settings  # noqa: E402

_extra = threading.local()  # generation seconds of drafts taken from the record, for the current answer


class RecordedChat(BaseChatModel):
    """The real chat model, with every draft recorded by prompt hash (and reused when the prompt recurs)."""

    inner: BaseChatModel
    path: Path
    model_id: str
    drafts: dict = {}

    @property
    def _llm_type(self) -> str:
        return "recorded"

    def get_num_tokens(self, text: str) -> int:
        return self.inner.get_num_tokens(text)

    def _key(self, messages) -> str:
        body = json.dumps([[m.type, str(m.content)] for m in messages], ensure_ascii=False)
        return hashlib.sha1(f"{self.model_id}\n{body}".encode()).hexdigest()

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        key = self._key(messages)
        if key in self.drafts:
            rec = self.drafts[key]
            _extra.seconds = getattr(_extra, "seconds", 0.0) + rec["seconds"]
        else:
            t0 = time.perf_counter()
            text = str(self.inner.invoke(messages).content)
            rec = {"key": key, "question": getattr(_extra, "question", None), "text": text, "seconds": round(time.perf_counter() - t0, 3)}
            self.drafts[key] = rec
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=rec["text"]))])


class Timed(Ours):
    """Ours, with a recorded draft's generation time put back into the latency."""

    def answer(self, question: str):
        _extra.seconds, _extra.question = 0.0, question
        out = super().answer(question)
        if _extra.seconds:
            for stage in ("composition", "total"):
                out.timings[stage] = out.timings.get(stage, 0.0) + _extra.seconds
        return out


def fmt(v, digits=2):
    return "—" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def table(result: dict, llm: str) -> str:
    s = result["systems"]
    rows = ["| type | items | LLM drafts kept | fully correct LLM / extractive | citation precision LLM / extractive | "
            "LLM latency p50 / p95 s | extractive p50 / p95 s |", "|---|---|---|---|---|---|---|"]
    types = [t for t in TYPES if t in s[llm]["by_type"]]
    for t in types + ["all"]:
        a = s[llm]["metrics"] if t == "all" else s[llm]["by_type"][t]
        b = s["extractive"]["metrics"] if t == "all" else s["extractive"]["by_type"][t]
        if t == "all":
            la, lb = s[llm]["latency"].get("total", {}), s["extractive"]["latency"].get("total", {})
            lat_a, lat_b = (la.get("p50"), la.get("p95")), (lb.get("p50"), lb.get("p95"))
        else:
            lat_a, lat_b = (a.get("seconds_p50"), a.get("seconds_p95")), (b.get("seconds_p50"), b.get("seconds_p95"))
        kept = f"{a['llm_drafts_kept']:.2f} of {a['llm_drafts']}" if a.get("llm_drafts") else "— (no draft)"
        name = "**all**" if t == "all" else t
        rows.append(f"| {name} | {a['items']} | {kept} | {fmt(a.get('fully_correct'))} / {fmt(b.get('fully_correct'))} | "
                    f"{fmt(a.get('citation_precision'))} / {fmt(b.get('citation_precision'))} | "
                    f"{fmt(lat_a[0], 1)} / {fmt(lat_a[1], 1)} | {fmt(lat_b[0], 2)} / {fmt(lat_b[1], 2)} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sample", type=int, default=None, help="a fixed seeded subset of about N items, every type")
    ap.add_argument("--backend", default="local")
    ap.add_argument("--drafts", type=Path, default=ROOT / "bench" / "results" / "llm-drafts.jsonl")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--only-recorded", action="store_true", help="only the items whose draft is already recorded (a run cut short)")
    args = ap.parse_args()

    from tqdm import tqdm

    base = Settings()
    index = run.seed_index(base)
    items = load_gold(run.DEFAULT_GOLD)
    if args.sample:
        items = run.sample(items, args.sample)
    if args.only_recorded and args.drafts.is_file():
        asked = {json.loads(line).get("question") for line in args.drafts.read_text(encoding="utf-8").splitlines() if line.strip()}
        # and those no backend drafts for: the pipeline refuses them before any LLM is asked
        items = [i for i in items if i.question in asked or qa.answer.ask(index, i.question, backend="extractive").refused]
    resolve_evidence(items, index.catalog.sources(), index.catalog.file_text, str(run.DEFAULT_GOLD))

    from qa.llm import chat_model, local_gguf

    inner = chat_model(index.settings, args.backend)
    model_id = local_gguf(index.settings) if args.backend == "local" else f"{index.settings.llm_base_url}/{index.settings.llm_model}"
    drafts = {}
    if args.drafts.is_file():
        for line in args.drafts.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                drafts[rec["key"]] = rec
    args.drafts.parent.mkdir(parents=True, exist_ok=True)
    recorded = RecordedChat(inner=inner, path=args.drafts, model_id=Path(model_id).name, drafts=drafts)
    qa.answer.chat_model = lambda settings, backend: recorded

    bar = tqdm(total=2 * len(items), unit="answer", desc="evaluating", file=sys.stderr)
    t0 = time.perf_counter()
    result = {"dataset": "seeds", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "items": len(items), "sample": {"size": args.sample, "seed": run.SAMPLE_SEED, "only_recorded": args.only_recorded} if args.sample else None,
              "backend": args.backend, "model": Path(model_id).name, "drafts_recorded_before": len(drafts)}
    result.update(evaluate(items, [Timed(index, args.backend, name=args.backend), Ours(index, "extractive", name="extractive")], 5, bar.update))
    bar.close()
    result["seconds"] = round(time.perf_counter() - t0, 1)
    out = args.out or ROOT / "bench" / "results" / f"llm-eval-{datetime.now(timezone.utc):%Y-%m-%d-%H%M}.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(table(result, args.backend))
    print(f"\n{len(items)} items, {result['seconds']} s; drafts recorded before this run: {len(drafts)}; written: {out}")


if __name__ == "__main__":
    main()
