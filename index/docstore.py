"""Document store: a SQLite file holding documents by an integer row id that vector indexes refer to."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Sequence

import numpy as np

OnDuplicate = Literal["error", "first", "last"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    row_id   INTEGER PRIMARY KEY,
    doc_id   TEXT NOT NULL UNIQUE,
    title    TEXT NOT NULL DEFAULT '',
    text     TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    source   TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS chunks (
    row_id   INTEGER NOT NULL,
    chunk    INTEGER NOT NULL,
    start    INTEGER NOT NULL,
    end      INTEGER NOT NULL,
    PRIMARY KEY (row_id, chunk)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Document:
    """One document as read from a corpus: id, title, text, extra fields, and where it came from."""

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def full_text(self) -> str:
        """Title and text joined, the string that gets embedded (:func:`embedded_text`)."""
        return embedded_text(self.title, self.text)


def embedded_text(title: str, text: str) -> str:
    """The one definition of what gets encoded for a document: its title and text joined by a space, or the text
    alone when there is no title. Chunk spans and token spans are offsets into this string.

    >>> embedded_text("Rome", "Capital of Italy."), embedded_text("", "No title.")
    ('Rome Capital of Italy.', 'No title.')
    """
    return f"{title} {text}" if title else text


def text_offset(title: str) -> int:
    """Where the text starts in :func:`embedded_text`: subtract it from a span there to get a span in the text.

    >>> text_offset("Rome"), text_offset("")
    (5, 0)
    """
    return len(title) + 1 if title else 0


@dataclass(frozen=True)
class Duplicate:
    """A document id seen twice: where it was first seen and where again."""

    doc_id: str
    first_source: str
    again_source: str


class DocumentStore:
    """Documents in SQLite, addressed by ``row_id`` (the id FAISS stores) or by ``doc_id``."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._conn = connection
        self._lock = threading.Lock()
        self.path = path

    @classmethod
    def create(cls, path: Path) -> "DocumentStore":
        """Create an empty store at ``path`` (which must not exist yet)."""
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"{path} already exists")
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        conn.commit()
        return cls(conn, path)

    @classmethod
    def open(cls, path: Path, *, readonly: bool = True) -> "DocumentStore":
        """Open an existing store; read-only by default so a reader can never modify an index."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        mode = "ro" if readonly else "rw"
        conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, check_same_thread=False)
        try:
            conn.execute("SELECT row_id, doc_id, title, text, metadata FROM documents LIMIT 1")
        except sqlite3.DatabaseError as err:
            conn.close()
            raise sqlite3.DatabaseError(f"{path} is not a modernsearch document store: {err}") from err
        return cls(conn, path)

    def close(self) -> None:
        """Close the underlying connection."""
        self._conn.close()

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]

    def add(self, documents: Iterable[Document], on_duplicate: OnDuplicate = "error") -> list[Duplicate]:
        """Insert documents in one transaction; return the duplicates met.

        ``on_duplicate``: ``error`` keeps the first copy and reports the duplicate
        (the caller decides whether to fail), ``first`` keeps the first silently,
        ``last`` replaces the stored copy with the new one (keeping its row id).
        """
        duplicates: list[Duplicate] = []
        with self._lock, self._conn:
            for doc in documents:
                row = (doc.id, doc.title, doc.text, json.dumps(doc.metadata, ensure_ascii=False), doc.source)
                try:
                    self._conn.execute(
                        "INSERT INTO documents (doc_id, title, text, metadata, source) VALUES (?, ?, ?, ?, ?)",
                        row,
                    )
                except sqlite3.IntegrityError:
                    first = self._conn.execute(
                        "SELECT source FROM documents WHERE doc_id = ?", (doc.id,)
                    ).fetchone()[0]
                    duplicates.append(Duplicate(doc.id, first, doc.source))
                    if on_duplicate == "last":
                        self._conn.execute(
                            "UPDATE documents SET title = ?, text = ?, metadata = ?, source = ? WHERE doc_id = ?",
                            (*row[1:], doc.id),
                        )
        return duplicates

    def insert(self, documents: Sequence[Document]) -> list[int]:
        """Insert new documents (their ids must not be stored yet) in one transaction; returns their row ids."""
        rows = []
        with self._lock, self._conn:
            for doc in documents:
                cursor = self._conn.execute(
                    "INSERT INTO documents (doc_id, title, text, metadata, source) VALUES (?, ?, ?, ?, ?)",
                    (doc.id, doc.title, doc.text, json.dumps(doc.metadata, ensure_ascii=False), doc.source),
                )
                rows.append(int(cursor.lastrowid))
        return rows

    def delete(self, doc_ids: Sequence[str]) -> dict[str, int]:
        """Delete documents by id in one transaction; returns ``{doc_id: row_id}`` of those that existed."""
        removed: dict[str, int] = {}
        with self._lock, self._conn:
            for doc_id in doc_ids:
                row = self._conn.execute("SELECT row_id FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
                if row:
                    self._conn.execute("DELETE FROM documents WHERE row_id = ?", (row[0],))
                    self._conn.execute("DELETE FROM chunks WHERE row_id = ?", (row[0],))
                    removed[doc_id] = int(row[0])
        return removed

    def add_chunk_spans(self, spans: np.ndarray) -> None:
        """Record ``(row id, chunk number, start, end)`` character spans of the chunks of split documents."""
        with self._lock, self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?)", [tuple(map(int, r)) for r in spans])

    def has_chunk_spans(self) -> bool:
        """Whether any chunk span is recorded."""
        with self._lock:
            return self._conn.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is not None

    def chunk_span(self, row_id: int, chunk: int) -> tuple[int, int] | None:
        """Character span (in the document's title + text) of one chunk of a split document; ``None`` if not split."""
        with self._lock:
            row = self._conn.execute("SELECT start, end FROM chunks WHERE row_id = ? AND chunk = ?", (int(row_id), int(chunk))).fetchone()
        return (row[0], row[1]) if row else None

    def get(self, row_ids: Sequence[int]) -> list[Document | None]:
        """Documents for the given row ids, in the same order (``None`` for unknown ids)."""
        if not row_ids:
            return []
        unique = list({int(r) for r in row_ids})
        found: dict[int, Document] = {}
        with self._lock:
            for start in range(0, len(unique), 500):
                part = unique[start : start + 500]
                marks = ",".join("?" * len(part))
                for row_id, doc_id, title, text, metadata in self._conn.execute(
                    f"SELECT row_id, doc_id, title, text, metadata FROM documents WHERE row_id IN ({marks})",
                    part,
                ):
                    found[row_id] = Document(doc_id, text, title, json.loads(metadata))
        return [found.get(int(r)) for r in row_ids]

    def row_id(self, doc_id: str) -> int | None:
        """Row id of a document id, or ``None``."""
        with self._lock:
            row = self._conn.execute("SELECT row_id FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return row[0] if row else None

    def row_ids(self) -> np.ndarray:
        """Every row id, ascending (the order ``iter_texts`` walks)."""
        with self._lock:
            rows = self._conn.execute("SELECT row_id FROM documents ORDER BY row_id").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def iter_texts(self, batch_size: int = 1024, after_row_id: int = 0) -> Iterator[tuple[list[int], list[str]]]:
        """Yield ``(row_ids, title + text)`` in row-id order, ``batch_size`` rows at a time."""
        last = after_row_id
        while True:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT row_id, title, text FROM documents WHERE row_id > ? ORDER BY row_id LIMIT ?",
                    (last, batch_size),
                ).fetchall()
            if not rows:
                return
            yield [r[0] for r in rows], [embedded_text(r[1], r[2]) for r in rows]
            last = rows[-1][0]

    def iter_documents(self, batch_size: int = 1024) -> Iterator[Document]:
        """Every stored document (id, text, title, metadata) in row-id order."""
        ids = self.row_ids()
        for start in range(0, len(ids), batch_size):
            yield from (d for d in self.get([int(r) for r in ids[start : start + batch_size]]) if d is not None)

    def sample(self, n: int) -> list[Document]:
        """The first ``n`` documents by row id, for previews."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT row_id FROM documents ORDER BY row_id LIMIT ?", (n,)
            ).fetchall()
        return [d for d in self.get([r[0] for r in rows]) if d is not None]
