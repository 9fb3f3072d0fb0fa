"""Prompt templates live as files in qa/prompt_templates/ (package data; `prompts/` at the top of the checkout points
there), in Chinese, so they can be read and changed without code."""
from __future__ import annotations

from functools import lru_cache

from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent / "prompt_templates"


@lru_cache(maxsize=None)
def load_prompt(name: str) -> str:
    return (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8").strip()
