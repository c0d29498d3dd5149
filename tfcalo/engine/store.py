"""The SQLite metadata store of a pipeline root: runs, executions, artifacts and lineage events.

One file, ``<root>/metadata.sqlite``, in WAL mode with a busy timeout, so several pipeline
processes can share a root: every write is one short ``BEGIN IMMEDIATE`` transaction and no
transaction is held while an executor runs. Tables:

- ``runs``: one row per :func:`tfcalo.engine.runner.run_pipeline` call (status running /
  succeeded / failed; pid and host to tell an interrupted run from a live one: the next run
  on the host marks those of dead processes failed with the error "interrupted: ...").
- ``executions``: one row per node per run (status running / succeeded / failed / cached),
  keyed by the node's fingerprint; a ``running`` row of a live process on this host *claims*
  the fingerprint so a concurrent run waits for it instead of computing it twice.
- ``artifacts``: one row per artifact fingerprint (UNIQUE), path stored relative to the root.
- ``events``: lineage, (execution, artifact, kind input|output, name), UNIQUE per name.

This module knows nothing about executors; :mod:`tfcalo.engine.runner` drives it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tfcalo.errors import ArtifactError

DB_NAME = "metadata.sqlite"
#: The error recorded for a run or execution whose process ended without finishing.
INTERRUPTED = "interrupted: its process ended without finishing"
SCHEMA_VERSION = 1
HOST = socket.gethostname()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id   TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    started  REAL NOT NULL,
    ended    REAL,
    status   TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    pid      INTEGER NOT NULL,
    host     TEXT NOT NULL,
    error    TEXT
);
CREATE TABLE IF NOT EXISTS executions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL REFERENCES runs(run_id),
    node_id     TEXT NOT NULL,
    component   TEXT NOT NULL,
    version     TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    params      TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('running', 'succeeded', 'failed', 'cached')),
    started     REAL NOT NULL,
    ended       REAL,
    pid         INTEGER NOT NULL,
    host        TEXT NOT NULL,
    log_path    TEXT,
    error       TEXT,
    UNIQUE (run_id, node_id)
);
CREATE INDEX IF NOT EXISTS executions_fp ON executions (fingerprint, status);
CREATE TABLE IF NOT EXISTS artifacts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
    type        TEXT NOT NULL,
    uri         TEXT NOT NULL,
    properties  TEXT NOT NULL,
    producer    INTEGER REFERENCES executions(id),
    created     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    execution_id INTEGER NOT NULL REFERENCES executions(id),
    artifact_id  INTEGER NOT NULL REFERENCES artifacts(id),
    kind         TEXT NOT NULL CHECK (kind IN ('input', 'output')),
    name         TEXT NOT NULL,
    PRIMARY KEY (execution_id, kind, name)
);
"""


@dataclass(frozen=True)
class ArtifactRow:
    """An artifact as recorded in the store (``uri`` already resolved against the root)."""

    name: str
    type: str
    uri: Path
    properties: dict
    fingerprint: str


def pid_alive(pid: int, host: str) -> bool:
    """True if process ``pid`` on ``host`` may still be running (other hosts: assume yes)."""
    if host != HOST:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class MetadataStore:
    """Connection to ``<root>/metadata.sqlite`` (created on first use).

    Example:
        >>> with MetadataStore(root) as store:   # doctest: +SKIP
        ...     store.list_runs()
    """

    def __init__(self, root: Path, create: bool = True, timeout_s: float = 60.0):
        self.root = Path(root)
        self.path = self.root / DB_NAME
        if not create and not self.path.exists():
            raise ArtifactError(f"pipeline root {self.root} has no metadata store ({DB_NAME})")
        if self.path.is_dir():
            raise ArtifactError(f"metadata store {self.path} is a directory, not a SQLite file; "
                                "move it away or use another pipeline root")
        self.conn = None
        try:
            self.conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            if self.conn is not None:
                self.conn.close()
            raise ArtifactError(
                f"metadata store {self.path} is not a usable SQLite database ({exc}); move it "
                "away or use another pipeline root") from None

    def _init_schema(self) -> None:
        for attempt in range(50):  # journal_mode=WAL needs a moment alone on a fresh file
            try:
                if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError:
                time.sleep(0.05 * (attempt + 1))
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        with self._tx() as c:
            version = c.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ArtifactError(
                    f"metadata store {self.path} has schema version {version}, newer than "
                    f"this tfcalo understands ({SCHEMA_VERSION})"
                )
            if version < SCHEMA_VERSION:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        c.execute(statement)
                c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- runs ---------------------------------------------------------------------------
    def begin_run(self, run_id: str, pipeline: str) -> None:
        """Record a new run as running."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO runs (run_id, pipeline, started, status, pid, host) "
                "VALUES (?, ?, ?, 'running', ?, ?)",
                (run_id, pipeline, time.time(), os.getpid(), HOST),
            )

    def mark_interrupted(self) -> list[str]:
        """Mark the ``running`` runs and executions of processes on this host that are gone
        (killed, crashed) as failed with the error ``interrupted: ...``; return the run ids.

        Their end time is the last time recorded for them. :meth:`list_runs` shows such a
        run as ``interrupted``.
        """
        with self._tx() as c:
            for e in c.execute("SELECT id, pid, host, started FROM executions "
                               "WHERE status = 'running' AND host = ?", (HOST,)).fetchall():
                if not pid_alive(e["pid"], e["host"]):
                    c.execute("UPDATE executions SET status = 'failed', ended = ?, error = ? "
                              "WHERE id = ?", (e["started"], INTERRUPTED, e["id"]))
            gone = []
            for r in c.execute("SELECT run_id, pid, host, started FROM runs "
                               "WHERE status = 'running' AND host = ?", (HOST,)).fetchall():
                if pid_alive(r["pid"], r["host"]):
                    continue
                last = c.execute("SELECT MAX(MAX(started, COALESCE(ended, started))) "
                                 "FROM executions WHERE run_id = ?", (r["run_id"],)).fetchone()[0]
                c.execute("UPDATE runs SET status = 'failed', ended = ?, error = ? "
                          "WHERE run_id = ?", (max(last or 0.0, r["started"]), INTERRUPTED,
                                               r["run_id"]))
                gone.append(r["run_id"])
        return gone

    def end_run(self, run_id: str, status: str, error: str | None = None) -> None:
        """Mark a run succeeded or failed."""
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET status = ?, ended = ?, error = ? WHERE run_id = ?",
                (status, time.time(), error, run_id),
            )

    # -- executions ---------------------------------------------------------------------
    def find_cached(self, fingerprint: str) -> tuple[str, list[ArtifactRow]] | None:
        """The latest succeeded execution of ``fingerprint``: (its run id, output artifacts)."""
        row = self.conn.execute(
            "SELECT id, run_id FROM executions WHERE fingerprint = ? AND status = 'succeeded' "
            "ORDER BY ended DESC LIMIT 1",
            (fingerprint,),
        ).fetchone()
        if row is None:
            return None
        return row["run_id"], self._artifacts_of(row["id"], "output")

    def _artifacts_of(self, execution_id: int, kind: str) -> list[ArtifactRow]:
        rows = self.conn.execute(
            "SELECT e.name, a.type, a.uri, a.properties, a.fingerprint FROM events e "
            "JOIN artifacts a ON a.id = e.artifact_id "
            "WHERE e.execution_id = ? AND e.kind = ? ORDER BY e.name",
            (execution_id, kind),
        ).fetchall()
        return [
            ArtifactRow(r["name"], r["type"], self.root / r["uri"], json.loads(r["properties"]),
                        r["fingerprint"])
            for r in rows
        ]

    def claim(
        self, run_id: str, node_id: str, component: str, version: str, fingerprint: str,
        params_json: str, log_path: Path | None,
    ) -> tuple[int | None, dict | None]:
        """Atomically claim ``fingerprint`` for this process.

        Returns ``(execution id, None)`` when claimed (a ``running`` row now exists), or
        ``(None, holder)`` when a live process on this host already runs the same fingerprint
        (``holder`` has its run_id, node_id, pid, host); ``running`` rows of dead processes
        are marked failed on the way. Claims from other hosts never block (their liveness is
        unknown); the engine's first-publish-wins rename keeps such races consistent.
        """
        now = time.time()
        with self._tx() as c:
            holder = None
            for r in c.execute(
                "SELECT id, run_id, node_id, pid, host FROM executions "
                "WHERE fingerprint = ? AND status = 'running'",
                (fingerprint,),
            ).fetchall():
                if r["host"] != HOST:
                    continue  # cannot tell if it is alive: compute too, first publish wins
                if pid_alive(r["pid"], r["host"]):
                    holder = dict(r)
                else:
                    c.execute(
                        "UPDATE executions SET status = 'failed', ended = ?, error = ? "
                        "WHERE id = ?",
                        (now, INTERRUPTED, r["id"]),
                    )
            if holder is not None:
                return None, holder
            cur = c.execute(
                "INSERT INTO executions (run_id, node_id, component, version, fingerprint, "
                "params, status, started, pid, host, log_path) "
                "VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                (run_id, node_id, component, version, fingerprint, params_json, now,
                 os.getpid(), HOST, self._rel(log_path) if log_path else None),
            )
            return cur.lastrowid, None

    def record_cached(
        self, run_id: str, node_id: str, component: str, version: str, fingerprint: str,
        params_json: str, inputs: dict[str, str], outputs: dict[str, str],
    ) -> int:
        """Record a cache hit as a ``cached`` execution with its lineage events.

        ``inputs``/``outputs`` map names to artifact fingerprints already in the store.
        """
        now = time.time()
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO executions (run_id, node_id, component, version, fingerprint, "
                "params, status, started, ended, pid, host) "
                "VALUES (?, ?, ?, ?, ?, ?, 'cached', ?, ?, ?, ?)",
                (run_id, node_id, component, version, fingerprint, params_json, now, now,
                 os.getpid(), HOST),
            )
            self._link(c, cur.lastrowid, "input", inputs)
            self._link(c, cur.lastrowid, "output", outputs)
            return cur.lastrowid

    def finish_execution(
        self, execution_id: int, inputs: dict[str, str], outputs: list[ArtifactRow],
    ) -> None:
        """Mark a claimed execution succeeded; upsert its output artifacts; link lineage."""
        now = time.time()
        with self._tx() as c:
            for a in outputs:
                c.execute(
                    "INSERT INTO artifacts (fingerprint, type, uri, properties, producer, "
                    "created) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE "
                    "SET type = excluded.type, uri = excluded.uri, "
                    "properties = excluded.properties, producer = excluded.producer, "
                    "created = excluded.created",
                    (a.fingerprint, a.type, self._rel(a.uri), json.dumps(a.properties),
                     execution_id, now),
                )
            self._link(c, execution_id, "input", inputs)
            self._link(c, execution_id, "output", {a.name: a.fingerprint for a in outputs})
            c.execute(
                "UPDATE executions SET status = 'succeeded', ended = ? WHERE id = ?",
                (now, execution_id),
            )

    def fail_execution(self, execution_id: int, error: str) -> None:
        """Mark a claimed execution failed with a one-line error."""
        with self._tx() as c:
            c.execute(
                "UPDATE executions SET status = 'failed', ended = ?, error = ? WHERE id = ?",
                (time.time(), error, execution_id),
            )

    @staticmethod
    def _link(c: sqlite3.Connection, execution_id: int, kind: str,
              artifacts: dict[str, str]) -> None:
        for name, fp in artifacts.items():
            c.execute(
                "INSERT OR REPLACE INTO events (execution_id, artifact_id, kind, name) "
                "SELECT ?, id, ?, ? FROM artifacts WHERE fingerprint = ?",
                (execution_id, kind, name, fp),
            )

    def _rel(self, path: Path) -> str:
        """``path`` relative to the root when inside it (so a root can be moved)."""
        path = Path(path)
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    # -- queries ------------------------------------------------------------------------
    def list_runs(self) -> list[dict]:
        """All runs, oldest first, each with node statuses and output metrics."""
        runs = []
        for r in self.conn.execute("SELECT * FROM runs ORDER BY started, run_id").fetchall():
            status = r["status"]
            if status == "running" and not pid_alive(r["pid"], r["host"]) or (
                    status == "failed" and (r["error"] or "").startswith("interrupted:")):
                status = "interrupted"
            nodes: dict[str, str] = {}
            metrics: dict[str, dict] = {}
            for e in self.conn.execute(
                "SELECT id, node_id, status FROM executions WHERE run_id = ? ORDER BY id",
                (r["run_id"],),
            ).fetchall():
                nodes[e["node_id"]] = e["status"]
                for a in self._artifacts_of(e["id"], "output"):
                    m = a.properties.get("metrics")
                    if isinstance(m, dict) and m:
                        metrics.setdefault(e["node_id"], {}).update(m)
            runs.append({
                "run_id": r["run_id"],
                "pipeline": r["pipeline"],
                "started": _iso(r["started"]),
                "ended": _iso(r["ended"]),
                "duration_s": (round(r["ended"] - r["started"], 3)
                               if r["ended"] is not None else None),
                "status": status,
                "error": r["error"],
                "nodes": nodes,
                "metrics": metrics,
            })
        return runs

    def get_run(self, run_id: str) -> dict:
        """One run with every execution: status, fingerprint, log, input and output artifacts."""
        r = self.conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if r is None:
            from tfcalo.errors import unknown_name

            ids = [x[0] for x in self.conn.execute("SELECT run_id FROM runs")]
            raise unknown_name(f"run in {self.path}", run_id, ids)
        summary = next(x for x in self.list_runs() if x["run_id"] == run_id)
        executions = []
        for e in self.conn.execute(
            "SELECT * FROM executions WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall():
            executions.append({
                "node_id": e["node_id"],
                "component": e["component"],
                "version": e["version"],
                "status": e["status"],
                "fingerprint": e["fingerprint"],
                "params": json.loads(e["params"]),
                "started": _iso(e["started"]),
                "ended": _iso(e["ended"]),
                "log": str(self.root / e["log_path"]) if e["log_path"] else None,
                "error": e["error"],
                "inputs": {a.name: _row_dict(a) for a in self._artifacts_of(e["id"], "input")},
                "outputs": {a.name: _row_dict(a)
                            for a in self._artifacts_of(e["id"], "output")},
            })
        return {**summary, "executions": executions}


def _row_dict(a: ArtifactRow) -> dict:
    return {"type": a.type, "uri": str(a.uri), "fingerprint": a.fingerprint,
            "properties": a.properties}


def _iso(t: float | None) -> str | None:
    """Seconds since the epoch as local ISO-8601 time (to the second), or None."""
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))
