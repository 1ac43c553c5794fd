"""Document store: a SQLite file holding documents by an integer row id that vector indexes refer to."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from index.docstore_schema import DOCUMENTS_SCHEMA, METADATA_SCHEMA
from index.documents import Document, Duplicate, embedded_text

OnDuplicate = Literal["error", "first", "last"]
MATCHES_KEPT = 32  # filters whose admitted rows a store keeps


class DocumentStore:
    """Documents in SQLite, addressed by ``row_id`` (the id FAISS stores) or by ``doc_id``."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._conn = connection
        self._lock = threading.Lock()
        self._types: dict[str, str] | None = None
        self._matched: dict[str, np.ndarray] = {}  # filter -> admitted rows, emptied by every write
        self.path = path

    @classmethod
    def create(cls, path: Path) -> DocumentStore:
        """Create an empty store at ``path`` (which must not exist yet)."""
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"{path} already exists")
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(DOCUMENTS_SCHEMA + METADATA_SCHEMA)
        conn.commit()
        return cls(conn, path)

    @classmethod
    def open(cls, path: Path, *, readonly: bool = True) -> DocumentStore:
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
        store = cls(conn, path)
        if not readonly and not store.has_metadata_tables():
            store._add_metadata_tables()
        return store

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
        Metadata must already have the types :meth:`metadata_types` records (see
        :class:`index.metadata.MetadataSchema`).
        """
        duplicates: list[Duplicate] = []
        self._matched.clear()
        with self._lock, self._conn:
            for doc in documents:
                row = (doc.id, doc.title, doc.text, json.dumps(doc.metadata, ensure_ascii=False), doc.source)
                try:
                    cursor = self._conn.execute(
                        "INSERT INTO documents (doc_id, title, text, metadata, source) VALUES (?, ?, ?, ?, ?)",
                        row,
                    )
                    self._write_values(int(cursor.lastrowid), doc.metadata)
                except sqlite3.IntegrityError:
                    first_row, first = self._conn.execute(
                        "SELECT row_id, source FROM documents WHERE doc_id = ?", (doc.id,)
                    ).fetchone()
                    duplicates.append(Duplicate(doc.id, first, doc.source))
                    if on_duplicate == "last":
                        self._conn.execute(
                            "UPDATE documents SET title = ?, text = ?, metadata = ?, source = ? WHERE doc_id = ?",
                            (*row[1:], doc.id),
                        )
                        self._conn.execute("DELETE FROM metadata_values WHERE row_id = ?", (first_row,))
                        self._write_values(first_row, doc.metadata)
        return duplicates

    def insert(self, documents: Sequence[Document], first_row_id: int | None = None) -> list[int]:
        """Insert new documents (their ids must not be stored yet) in one transaction; returns their row ids: the next
        free ones, or consecutive ones from ``first_row_id`` (a shard takes row ids after the whole collection's)."""
        rows = []
        self._matched.clear()
        with self._lock, self._conn:
            for number, doc in enumerate(documents):
                cursor = self._conn.execute(
                    "INSERT INTO documents (row_id, doc_id, title, text, metadata, source) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        None if first_row_id is None else first_row_id + number,
                        doc.id,
                        doc.title,
                        doc.text,
                        json.dumps(doc.metadata, ensure_ascii=False),
                        doc.source,
                    ),
                )
                rows.append(int(cursor.lastrowid))
                self._write_values(rows[-1], doc.metadata)
        return rows

    def delete(self, doc_ids: Sequence[str]) -> dict[str, int]:
        """Delete documents by id in one transaction; returns ``{doc_id: row_id}`` of those that existed."""
        removed: dict[str, int] = {}
        self._matched.clear()
        with self._lock, self._conn:
            for doc_id in doc_ids:
                row = self._conn.execute("SELECT row_id FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
                if row:
                    for table in ("documents", "chunks", "metadata_values"):
                        self._conn.execute(f"DELETE FROM {table} WHERE row_id = ?", (row[0],))
                    removed[doc_id] = int(row[0])
        return removed

    def has_metadata_tables(self) -> bool:
        """Whether this store has the typed metadata tables (stores written before them do not)."""
        with self._lock:
            found = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'metadata_fields'"
            ).fetchone()
        return found is not None

    def metadata_types(self) -> dict[str, str]:
        """Field name -> type (:data:`index.metadata.FIELD_TYPES`), in the order the fields were first seen."""
        if self._types is None:
            self._types = self._load_types() if self.has_metadata_tables() else {}
        return dict(self._types)

    def set_metadata_types(self, types: Mapping[str, str]) -> None:
        """Record the types of fields not recorded yet (a field's type never changes)."""
        known = self.metadata_types()
        self._matched.clear()
        with self._lock, self._conn:
            for position, (name, kind) in enumerate(types.items(), start=len(known)):
                if name not in known:
                    self._conn.execute("INSERT INTO metadata_fields VALUES (?, ?, ?)", (name, kind, position))
                    known[name] = kind
        self._types = known

    def matching(self, filter: Mapping[str, Any]) -> np.ndarray:
        """Row ids (ascending) of the documents a metadata filter (:mod:`index.filters`) admits;
        :class:`index.filters.FilterError` for a filter that does not fit the stored fields. The last few
        filters' rows are kept until the store changes, so repeating a filter costs no query."""
        from index.filters import to_sql

        key = json.dumps(filter, sort_keys=True, default=str)
        with self._lock:
            known = self._matched.pop(key, None)
            if known is not None:  # checked and run before, on this version of the store
                self._matched[key] = known  # most recently used last
                return known
        query, parameters = to_sql(filter, self.metadata_types())
        with self._lock:
            if key not in self._matched:
                found = self._conn.execute(query, list(parameters)).fetchall()
                rows = np.unique(np.fromiter((r[0] for r in found), dtype=np.int64, count=len(found)))
                rows.flags.writeable = False
                self._matched[key] = rows
                while len(self._matched) > MATCHES_KEPT:
                    self._matched.pop(next(iter(self._matched)))
            self._matched[key] = self._matched.pop(key)  # most recently used last
            return self._matched[key]

    def metadata_values(self, field: str, limit: int = 50) -> list[tuple[Any, int]]:
        """The most frequent values of a field with their document counts, most frequent first."""
        with self._lock:
            return self._conn.execute(
                "SELECT value, COUNT(DISTINCT row_id) AS n FROM metadata_values WHERE field = ? GROUP BY value "
                "ORDER BY n DESC, value LIMIT ?",
                (field, limit),
            ).fetchall()

    def metadata_stats(self) -> dict[str, dict[str, Any]]:
        """Per field: type, documents holding it, distinct values, smallest and largest value."""
        types = self.metadata_types()
        with self._lock:
            rows = self._conn.execute(
                "SELECT field, COUNT(DISTINCT row_id), COUNT(DISTINCT value), MIN(value), MAX(value) FROM "
                "metadata_values GROUP BY field"
            ).fetchall()
        found = {r[0]: r[1:] for r in rows}
        return {
            name: dict(
                zip(("type", "documents", "distinct", "min", "max"), (kind, *found.get(name, (0, 0, None, None))))
            )
            for name, kind in types.items()
        }

    def _write_values(self, row_id: int, metadata: Mapping[str, Any]) -> None:
        if not metadata:
            return
        if self._types is None:
            self._types = self._load_types()
        types = self._types
        rows = []
        for name, value in metadata.items():
            kind = types.get(name)
            if kind is None or value is None:
                continue  # a field the schema does not keep
            if kind == "list":
                rows.extend((row_id, name, str(v)) for v in value)
            elif kind == "json":
                rows.append((row_id, name, json.dumps(value, ensure_ascii=False, sort_keys=True)))
            else:
                rows.append((row_id, name, int(value) if kind == "boolean" else value))
        self._conn.executemany("INSERT INTO metadata_values VALUES (?, ?, ?)", rows)

    def _load_types(self) -> dict[str, str]:
        return dict(self._conn.execute("SELECT name, type FROM metadata_fields ORDER BY position").fetchall())

    def _add_metadata_tables(self) -> None:
        """Give a store written before typed metadata its tables, with types inferred from the stored metadata."""
        from index.metadata import MetadataSchema, MetadataTypeError

        with self._lock, self._conn:
            self._conn.executescript(METADATA_SCHEMA)
        schema = MetadataSchema({})
        stored = [
            (str(r), json.loads(m))
            for r, m in self._conn.execute("SELECT row_id, metadata FROM documents ORDER BY row_id")
        ]
        while True:
            try:
                schema.learn(stored)
                break
            except MetadataTypeError as err:
                schema.types[err.field] = "json"  # values of several types: kept whole, tested only for presence
        self.set_metadata_types(schema.types)
        with self._lock, self._conn:
            for row, metadata in stored:
                try:
                    self._write_values(int(row), schema.check(metadata))
                except MetadataTypeError:
                    continue  # a value the inferred type cannot hold stays in the document's JSON only

    def copy_part(self, target: Path, row_ids: np.ndarray) -> None:
        """Write a new store at ``target`` holding only the documents of ``row_ids``, under the same row ids, with
        their metadata and chunk spans (a shard of this store)."""
        with self._lock:
            self._conn.execute("VACUUM INTO ?", (str(target),))
        part = sqlite3.connect(target)
        try:
            with part:
                part.execute("CREATE TEMP TABLE kept (row_id INTEGER PRIMARY KEY)")
                part.executemany("INSERT INTO kept VALUES (?)", ((int(r),) for r in row_ids))
                tables = [r[0] for r in part.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                for table in ("documents", "chunks", "metadata_values"):
                    if table in tables:
                        part.execute(f"DELETE FROM {table} WHERE row_id NOT IN (SELECT row_id FROM kept)")
            part.execute("VACUUM")
        finally:
            part.close()

    def add_chunk_spans(self, spans: np.ndarray) -> None:
        """Record ``(row id, chunk number, start, end)`` character spans of the chunks of split documents."""
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?)", [tuple(map(int, r)) for r in spans]
            )

    def has_chunk_spans(self) -> bool:
        """Whether any chunk span is recorded."""
        with self._lock:
            return self._conn.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is not None

    def chunk_spans(self, chunks: Sequence[tuple[int, int]]) -> dict[tuple[int, int], tuple[int, int]]:
        """Character spans (in the documents' title + text) of ``(row id, chunk number)`` chunks of split documents, by
        chunk; a chunk of a document that is not split has none."""
        found: dict[tuple[int, int], tuple[int, int]] = {}
        wanted = [(int(row), int(chunk)) for row, chunk in chunks]
        with self._lock:
            for start in range(0, len(wanted), 400):
                part = wanted[start : start + 400]
                marks = ",".join("(?, ?)" for _ in part)
                query = f"SELECT row_id, chunk, start, end FROM chunks WHERE (row_id, chunk) IN (VALUES {marks})"
                for row, chunk, begin, end in self._conn.execute(query, [value for pair in part for value in pair]):
                    found[(row, chunk)] = (begin, end)
        return found

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
            rows = self._conn.execute("SELECT row_id FROM documents ORDER BY row_id LIMIT ?", (n,)).fetchall()
        return [d for d in self.get([r[0] for r in rows]) if d is not None]
