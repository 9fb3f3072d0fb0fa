"""A small SQL dialect layer: the catalogue's (and the feedback store's) SQL is written once, in SQLite's spelling
with `?` placeholders and portable upserts (INSERT … ON CONFLICT … DO UPDATE), and runs on SQLite (the embedded
default) or PostgreSQL (`QA_DATABASE_URL=postgresql://…`, the psycopg driver from the `pg` extra).

What differs between the two is kept here:
- placeholders (`?` → `%s`), DDL (AUTOINCREMENT → identity, REAL → double precision, datetime('now') → now()),
- the column listing (PRAGMA table_info → information_schema), insertion order (rowid → an identity column),
- transactions: a writer is alone (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock held by the transaction),
  a snapshot is one consistent view (SQLite: a read transaction in WAL mode; PostgreSQL: REPEATABLE READ READ ONLY),
- errors: a PostgreSQL server that cannot be reached raises DatabaseUnavailable (HTTP 503), and the next call
  reconnects.
"""
from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

from .errors import IndexUnavailable

# Any value: every catalogue writer of one database takes this advisory lock, so writers queue as in SQLite.
WRITE_LOCK_KEY = 0x51A_CA7A


class DatabaseUnavailable(IndexUnavailable):
    """The catalogue's database server cannot be reached (or dropped the connection)."""


def is_url(target) -> bool:
    return isinstance(target, str) and target.split(":", 1)[0] in ("postgresql", "postgres")


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class Database:
    """One connection (opened lazily, reopened after a failure) with the dialect's spelling of each operation."""

    kind = "sqlite"
    rowid = "rowid"
    integrity_errors: tuple = (sqlite3.IntegrityError,)

    def __init__(self, target: Path | str, *, timeout: float = 60, read_only: bool = False):
        self.target = target
        self.timeout = timeout
        self.read_only = read_only
        self._conn = None
        self._lock = threading.RLock()

    # -- connection
    def connect(self):
        conn = sqlite3.connect(str(self.target), check_same_thread=False, timeout=self.timeout, isolation_level=None)
        if self.read_only:
            conn.execute("PRAGMA query_only=ON")
        else:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @property
    def conn(self):
        if self._conn is None:
            self._conn = self.connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    # -- statements
    def sql(self, text: str) -> str:
        return text

    def execute(self, sql: str, params=()):
        return self.conn.execute(self.sql(sql), params)

    def executemany(self, sql: str, rows) -> None:
        self.conn.executemany(self.sql(sql), rows)

    def fetchall(self, sql: str, params=()) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def script(self, ddl: str) -> None:
        self.conn.executescript(ddl)

    def columns(self, table: str) -> set[str]:
        return {row[1] for row in self.fetchall(f"PRAGMA table_info({table})")}

    def add_column(self, table: str, name: str, decl: str) -> None:
        try:
            self.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
        except sqlite3.OperationalError as exc:  # another process added it between our check and now
            if "duplicate column" not in str(exc):
                raise

    # -- transactions
    def begin_write(self) -> None:
        self.execute("BEGIN IMMEDIATE")

    def begin_snapshot(self) -> None:
        self.execute("BEGIN")
        self.fetchall("SELECT 1 FROM sqlite_master LIMIT 1")  # the snapshot starts at the first read

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        self.execute("ROLLBACK")

    def insert_returning_id(self, sql: str, params) -> int:
        return int(self.execute(sql, params).lastrowid)


class PostgresDatabase(Database):
    kind = "postgres"
    rowid = "seq"

    def __init__(self, target: str, *, timeout: float = 60, read_only: bool = False):
        super().__init__(target, timeout=timeout, read_only=read_only)
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("QA_DATABASE_URL 指向 PostgreSQL,需要安装 pg 扩展: pip install 'fazhi-qa[pg]' (psycopg)") from exc
        self._psycopg = psycopg
        self.integrity_errors = (psycopg.errors.IntegrityError,)

    def connect(self):
        psycopg = self._psycopg
        try:
            return psycopg.connect(self.target, autocommit=True, connect_timeout=max(1, int(min(self.timeout, 10))))
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"目录数据库不可用: {redact(self.target)} ({_first_line(exc)})") from exc

    def sql(self, text: str) -> str:
        return text.replace("%", "%%").replace("?", "%s")

    def _guard(self, call):
        psycopg = self._psycopg
        try:
            return call()
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            broken = self._conn is None or self._conn.closed or self._conn.broken
            if broken:
                self._conn = None  # reconnect on the next call
                raise DatabaseUnavailable(f"目录数据库不可用: {redact(self.target)} ({_first_line(exc)})") from exc
            raise

    def execute(self, sql: str, params=()):
        def run():
            cur = self.conn.cursor()
            cur.execute(self.sql(sql) if params else sql, params or None)
            return cur

        return self._guard(run)

    def executemany(self, sql: str, rows) -> None:
        rows = list(rows)
        if rows:
            self._guard(lambda: self.conn.cursor().executemany(self.sql(sql), rows))

    def script(self, ddl: str) -> None:
        self.execute(ddl)

    def columns(self, table: str) -> set[str]:
        rows = self.fetchall("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?", (table,))
        return {r[0] for r in rows}

    def add_column(self, table: str, name: str, decl: str) -> None:
        self.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {postgres_ddl(decl)}")

    def begin_write(self) -> None:
        self.execute("BEGIN")
        self.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")

    def begin_snapshot(self) -> None:
        self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self.fetchall("SELECT 1")  # the snapshot starts at the first statement

    def rollback(self) -> None:
        try:
            self.execute("ROLLBACK")
        except DatabaseUnavailable:
            pass  # the server rolls back a transaction whose connection is gone

    def insert_returning_id(self, sql: str, params) -> int:
        return int(self.execute(sql + " RETURNING id", params).fetchone()[0])


def postgres_ddl(ddl: str) -> str:
    """SQLite DDL in PostgreSQL's spelling."""
    ddl = re.sub(r"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", ddl)
    ddl = re.sub(r"\bREAL\b", "DOUBLE PRECISION", ddl)
    ddl = ddl.replace("(datetime('now'))", "(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))")
    ddl = ddl.replace("(strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))", "(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))")
    return ddl


def integrity_errors() -> tuple:
    """A unique or foreign-key violation on either backend (e.g. a chunk id another file already holds)."""
    try:
        import psycopg

        return (sqlite3.IntegrityError, psycopg.errors.IntegrityError)
    except ImportError:
        return (sqlite3.IntegrityError,)


def open_database(target: Path | str, *, timeout: float = 60, read_only: bool = False) -> Database:
    if is_url(target):
        return PostgresDatabase(str(target), timeout=timeout, read_only=read_only)
    return Database(Path(target), timeout=timeout, read_only=read_only)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
