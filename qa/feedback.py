"""👍/👎 feedback on answers, kept with the question, answer and citations: in a local SQLite file, or in the
catalogue's PostgreSQL database when QA_DATABASE_URL is set (replicas then share it).

Export: `python -m qa.feedback export [--format jsonl|csv] [--out FILE]` (or GET /api/feedback with an admin key).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import threading
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    rating INTEGER NOT NULL,          -- +1 👍, -1 👎
    comment TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]',  -- JSON list of citation dicts
    backend TEXT NOT NULL DEFAULT '',
    filters TEXT NOT NULL DEFAULT '{}',
    channel TEXT NOT NULL DEFAULT ''  -- ui / embed / api
);
"""
FIELDS = ["id", "created_at", "rating", "comment", "question", "answer", "citations", "backend", "filters", "channel"]


def parse_rating(value) -> int:
    """👍/up/like/1/true → +1; 👎/down/dislike/-1/false → -1."""
    if isinstance(value, bool):
        return 1 if value else -1
    if isinstance(value, (int, float)) and value in (1, -1):
        return int(value)
    text = str(value).strip().lower()
    if text in ("1", "+1", "up", "like", "good", "👍", "true", "yes"):
        return 1
    if text in ("-1", "down", "dislike", "bad", "👎", "false", "no"):
        return -1
    raise ValueError(f"rating must be up/down (👍/👎), got {value!r}")


class FeedbackStore:
    """`target`: a SQLite file, or a postgresql:// URL."""

    def __init__(self, target: Path | str):
        from .sqldb import is_url, open_database, postgres_ddl

        if not is_url(target):
            target = Path(target)
            target.parent.mkdir(parents=True, exist_ok=True)
        self.path = target
        self._lock = threading.Lock()
        self._db = open_database(target, timeout=30)
        if self._db.kind == "postgres":
            self._db.begin_write()  # one replica at a time creates the table
            self._db.script(postgres_ddl(SCHEMA))
            self._db.commit()
        else:
            self._db.script(SCHEMA)

    def add(self, rating, question: str, answer: str, citations: list | None = None, comment: str = "",
            backend: str = "", filters: dict | None = None, channel: str = "") -> int:
        row = (parse_rating(rating), (comment or "").strip()[:4000], question or "", answer or "",
               json.dumps(citations or [], ensure_ascii=False), backend or "", json.dumps(filters or {}, ensure_ascii=False), channel)
        with self._lock:
            return self._db.insert_returning_id(
                "INSERT INTO feedback(rating, comment, question, answer, citations, backend, filters, channel) VALUES (?,?,?,?,?,?,?,?)", row
            )

    def set_comment(self, feedback_id: int, comment: str) -> None:
        with self._lock:
            self._db.execute("UPDATE feedback SET comment=? WHERE id=?", ((comment or "").strip()[:4000], feedback_id))

    def all(self) -> list[dict]:
        with self._lock:
            rows = self._db.fetchall(f"SELECT {', '.join(FIELDS)} FROM feedback ORDER BY id")
        out = []
        for r in rows:
            d = dict(zip(FIELDS, r))
            d["citations"] = json.loads(d["citations"] or "[]")
            d["filters"] = json.loads(d["filters"] or "{}")
            out.append(d)
        return out

    def count(self) -> dict:
        with self._lock:
            rows = self._db.fetchall("SELECT rating, count(*) FROM feedback GROUP BY rating")
        counts = dict(rows)
        return {"up": counts.get(1, 0), "down": counts.get(-1, 0)}

    def export(self, fmt: str = "jsonl") -> str:
        rows = self.all()
        if fmt == "jsonl":
            return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if fmt == "csv":
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=FIELDS)
            writer.writeheader()
            for r in rows:
                row = {**r, "citations": json.dumps(r["citations"], ensure_ascii=False), "filters": json.dumps(r["filters"], ensure_ascii=False)}
                writer.writerow({k: _cell(v) for k, v in row.items()})
            return buf.getvalue()
        raise ValueError(f"unknown format {fmt!r} (jsonl or csv)")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _cell(value):
    """A CSV cell a spreadsheet shows as text: anything starting like a formula (= + - @, tab, CR) gets a leading '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def feedback_path(settings) -> Path:
    return Path(settings.data_dir) / "feedback.sqlite"


def feedback_target(settings) -> Path | str:
    """Where feedback is kept: the shared database when one is configured, else a SQLite file in data_dir."""
    return getattr(settings, "database_url", None) or feedback_path(settings)


def main(argv: list[str] | None = None) -> int:
    from .settings import Settings

    parser = argparse.ArgumentParser(prog="python -m qa.feedback", description="Export the 👍/👎 feedback collected by the chat UI.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    exp = sub.add_parser("export", help="write all feedback as JSON lines or CSV")
    exp.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    exp.add_argument("--out", type=Path, help="file to write (default: stdout)")
    exp.add_argument("--db", type=Path, help="feedback database (default: $QA_DATA_DIR/feedback.sqlite)")
    sub.add_parser("stats", help="count 👍 and 👎")
    args = parser.parse_args(argv)
    path = getattr(args, "db", None) or feedback_target(Settings())
    if isinstance(path, Path) and not path.exists():
        print(f"no feedback yet ({path} does not exist)", file=sys.stderr)
        return 0 if args.cmd == "stats" else 1
    store = FeedbackStore(path)
    if args.cmd == "stats":
        print(json.dumps(store.count(), ensure_ascii=False))
        return 0
    text = store.export(args.format)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {len(store.all())} rows to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
