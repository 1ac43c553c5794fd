"""The document store's SQLite tables: documents by row id, chunk spans, and typed metadata values indexed for
filters. Tables are created if missing, so an older store gains the ones it lacks when a writer opens it."""

DOCUMENTS_SCHEMA = """
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

# Typed metadata (index.metadata): each field's type, and one row per (document, field, value) -- a list field has
# a row per element -- so a filter is a parameterised query over an index on (field, value).
METADATA_SCHEMA = """
CREATE TABLE IF NOT EXISTS metadata_fields (
    name     TEXT PRIMARY KEY,
    type     TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS metadata_values (
    row_id   INTEGER NOT NULL,
    field    TEXT NOT NULL,
    value
);
CREATE INDEX IF NOT EXISTS metadata_by_value ON metadata_values (field, value, row_id);
CREATE INDEX IF NOT EXISTS metadata_by_row ON metadata_values (row_id);
"""
