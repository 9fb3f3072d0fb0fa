"""Prompt templates live as files in prompts/, in Chinese, so they can be read and changed without code."""
from __future__ import annotations

from functools import lru_cache

from .settings import PROJECT_ROOT

PROMPTS_DIR = PROJECT_ROOT / "prompts"


@lru_cache(maxsize=None)
def load_prompt(name: str) -> str:
    return (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8").strip()
