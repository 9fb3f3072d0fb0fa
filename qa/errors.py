"""Domain errors: what went wrong in words a user can act on, with a stable code.

Every layer raises these (or subclasses defined beside the code that raises them: LoadError, IndexUnavailable,
BackendUnavailable, QuestionError); only the web layer turns them into HTTP (`status`), the CLI into exit codes.
Messages are Chinese first with a short English gloss, and never carry server paths or tracebacks.
"""
from __future__ import annotations


class QaError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.headers = headers or {}


class BadRequest(QaError):
    code, status = "bad_request", 400


class Unauthorized(QaError):
    code, status = "unauthorized", 401


class Forbidden(QaError):
    code, status = "forbidden", 403


class NotFound(QaError):
    code, status = "not_found", 404


class TooLarge(QaError):
    code, status = "too_large", 413


class UnsupportedType(QaError):
    code, status = "unsupported_type", 415


class RateLimited(QaError):
    code, status = "rate_limited", 429


class StorageFull(QaError):
    code, status = "storage_full", 507


class Unavailable(QaError):
    code, status = "unavailable", 503


class IndexUnavailable(QaError, RuntimeError):
    """A store the index needs cannot be reached (the Chroma server, the catalogue's database server)."""

    code, status = "index_unavailable", 503
