"""The web edge: the FastAPI app (REST API, Gradio UI, embed page) behind one request guard."""
from __future__ import annotations

from .app import create_app, run_server
from .testing import ServerThread, free_port

__all__ = ["create_app", "run_server", "ServerThread", "free_port"]
