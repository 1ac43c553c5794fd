"""Corpus readers: stream documents from BEIR folders, JSONL, CSV/TSV, Parquet, text folders and HF datasets.

Every reader yields :class:`index.documents.Document` one at a time, so memory is
bounded by what the caller batches, never by the corpus. Problems are reported
with the file, the line (or row) and what to do about it.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.documents import Document
from index.metadata import TableText
from retrieval.config import BuildConfig

TEXT_SUFFIXES = (".txt", ".md")
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}


class CorpusError(ValueError):
    """The corpus cannot be read as given; the message says where and what to do.

    ``problem`` is what went wrong and where; ``remedy`` what to do, naming the settings that fix it as
    ``{setting}`` or ``{setting=value}`` (listed in ``settings``). ``str()`` spells them as Python arguments
    (``skip_invalid=True``); :meth:`message` takes another spelling (the CLI's flags), and a command that does
    not take those settings can leave the remedy out.
    """

    def __init__(self, problem: str, remedy: str = "", settings: tuple[str, ...] = ()) -> None:
        self.problem, self.remedy, self.settings = problem, remedy, settings
        super().__init__(self.message(python_spelling))

    def message(self, spell: Callable[[str, str | None], str]) -> str:
        """The problem and the remedy, with each setting written by ``spell(name, value or None)``."""
        if not self.remedy:
            return self.problem
        remedy = _SETTING.sub(lambda m: spell(m.group(1), m.group(2)), self.remedy)
        return f"{self.problem}. {remedy}"


_SETTING = re.compile(r"\{(\w+)(?:=([^}]*))?\}")


def python_spelling(name: str, value: str | None) -> str:
    """A setting as a Python keyword argument: ``skip_invalid=True``, ``split='test'``."""
    return f"{name}=True" if value is None else f"{name}={value!r}"


@dataclass
class ReadStats:
    """Counters a reader fills in while streaming, reported in the build summary."""

    read: int = 0
    skipped_invalid: int = 0
    skipped_empty: int = 0
    replaced_encoding: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        """Keep the first few problems to show the user."""
        if len(self.examples) < 5:
            self.examples.append(message)


@dataclass(frozen=True)
class FieldNames:
    """Which record fields hold the id, text and title."""

    id: str | None = None
    text: str = "text"
    title: str = "title"

    def id_candidates(self) -> tuple[str, ...]:
        return (self.id,) if self.id else ("_id", "id")


def read_corpus(
    source: Path | str, config: BuildConfig, stats: ReadStats, *, hf_dataset: bool = False
) -> Iterator[Document]:
    """Stream the documents of a corpus; ``hf_dataset`` reads ``source`` with the ``datasets`` library. Nothing is
    opened before the first document is asked for."""
    yield from _documents(_records(source, config, stats, hf_dataset), config, stats)


def read_records(
    records: Iterable[Any], config: BuildConfig, stats: ReadStats, label: str = "documents"
) -> Iterator[Document]:
    """Documents from records already in memory (objects in the corpus JSONL shape, as an API receives them), checked
    as a corpus file's are; problems name ``label[i]``."""
    return _documents(((f"{label}[{number}]", record) for number, record in enumerate(records)), config, stats)


def _documents(records: Iterable[tuple[str, Any]], config: BuildConfig, stats: ReadStats) -> Iterator[Document]:
    """Documents from ``(where, record)`` pairs: invalid records reported (or skipped), empty texts counted and
    dropped."""
    names = FieldNames(config.id_field, config.text_field, config.title_field)
    for where, record in records:
        doc = _to_document(record, names, where, config, stats)
        if doc is None:
            continue
        stats.read += 1
        if not doc.text.strip():
            stats.skipped_empty += 1
            continue
        yield doc


def corpus_identity(source: Path | str, *, hf_dataset: bool = False) -> list[Any]:
    """What identifies a corpus's current content cheaply (paths, sizes, modification times), so an
    interrupted build resumes only on the data it started with."""
    if hf_dataset:
        return ["hf", str(source)]
    path = Path(source).absolute()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]


def _records(source: Path | str, config: BuildConfig, stats: ReadStats, hf_dataset: bool) -> Iterator[tuple[str, Any]]:
    if hf_dataset:
        return _hf_records(str(source), config.split)
    path = Path(source)
    if not path.exists():
        raise CorpusError(f"Corpus {path} does not exist.")
    if path.is_dir():
        if (path / "corpus.jsonl").exists():
            return _jsonl_records(path / "corpus.jsonl", config, stats)
        return _text_folder_records(path, config, stats)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl_records(path, config, stats)
    if suffix in TABLE_SUFFIXES:
        return _table_records(path, TABLE_SUFFIXES[suffix], config, stats)
    if suffix == ".parquet":
        return _parquet_records(path, config)
    raise CorpusError(
        f"Cannot tell the format of {path}: use a BEIR folder (with corpus.jsonl), a .jsonl, .csv, .tsv "
        "or .parquet file, a folder of .txt/.md files, or a Hugging Face dataset name (with hf_dataset)."
    )


def read_lines(path: Path | str) -> list[str]:
    """The lines of a UTF-8 text file (a list of ids or queries), split at newlines only: an entry may hold any other
    character, form feeds and U+2028 included; only the line ending (``\n`` or ``\r\n``) is removed."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")  # bytes: text mode would turn a lone \r inside an entry into a newline
    except UnicodeDecodeError as error:
        raise CorpusError(
            f"{path} is not UTF-8 text (byte offset {error.start}); write one entry per line in UTF-8"
        ) from None
    return [line.removesuffix("\r") for line in text.split("\n")]


def _decoded_lines(path: Path, config: BuildConfig, stats: ReadStats) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` of a UTF-8 file, naming the byte offset of any invalid byte."""
    offset = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                position = offset + err.start
                if config.encoding_errors != "replace":
                    raise CorpusError(
                        f"{path}: line {number}: invalid UTF-8 byte 0x{raw[err.start]:02x} at byte offset {position}",
                        "Re-encode the file as UTF-8, or pass {encoding_errors=replace}.",
                        ("encoding_errors",),
                    ) from err
                stats.replaced_encoding += 1
                stats.note(f"{path}:{number}: invalid UTF-8 at byte offset {position} replaced")
                line = raw.decode("utf-8", errors="replace")
            offset += len(raw)
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield number, line


def _jsonl_records(path: Path, config: BuildConfig, stats: ReadStats) -> Iterator[tuple[str, Any]]:
    for number, line in _decoded_lines(path, config, stats):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as err:
            problem = (
                f"malformed JSON ({err.msg} at column {err.colno})"
                if isinstance(err, json.JSONDecodeError)
                else "JSON nested too deeply"
            )
            _invalid(f"{path}: line {number}: {problem}", config, stats, "fix the line")
            continue
        yield where, record


def _table_records(path: Path, delimiter: str, config: BuildConfig, stats: ReadStats) -> Iterator[tuple[str, Any]]:
    csv.field_size_limit(sys.maxsize)
    lines = (line for _, line in _decoded_lines(path, config, stats))
    reader = csv.DictReader(lines, delimiter=delimiter)
    try:
        for record in reader:
            line = reader.line_num
            if None in record:
                _invalid(f"{path}: line {line}: more values than header columns", config, stats, "fix the row")
                continue
            yield f"{path}:{line}", {k: TableText(v) if isinstance(v, str) else v for k, v in record.items()}
    except csv.Error as err:
        raise CorpusError(f"{path}: line {reader.line_num}: {err}") from err


def _parquet_records(path: Path, config: BuildConfig) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise CorpusError(f"{path} is not a readable Parquet file: {err}") from err
    row = 0
    for batch in parquet.iter_batches(batch_size=config.read_batch_size):
        for record in batch.to_pylist():
            yield f"{path}[row {row}]", record
            row += 1


def _text_folder_records(folder: Path, config: BuildConfig, stats: ReadStats) -> Iterator[tuple[str, Any]]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    if not files:
        raise CorpusError(
            f"{folder} has no corpus.jsonl and no .txt/.md files. Point at a BEIR folder, a file, "
            "or a folder of text files."
        )
    for path in files:
        text = "".join(line for _, line in _decoded_lines(path, config, stats))
        relative = path.relative_to(folder).as_posix()
        status = path.stat()
        modified = datetime.fromtimestamp(status.st_mtime, tz=UTC).isoformat(timespec="seconds")
        yield (
            relative,
            {
                "id": relative,
                "title": _title_of(path, text),
                "text": text,
                "path": relative,
                "extension": path.suffix.lower(),
                "size_bytes": status.st_size,
                "modified": modified,
            },
        )


def _title_of(path: Path, text: str) -> str:
    """A Markdown file's first heading, else the file name without extension."""
    if path.suffix.lower() == ".md":
        for line in text.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return path.stem


def _hf_records(name: str, split: str) -> Iterator[tuple[str, Any]]:
    try:
        import datasets
    except ImportError as err:  # pragma: no cover - a dependency of the project
        raise CorpusError("Reading Hugging Face datasets needs: pip install datasets") from err
    if Path(name).is_dir():
        try:
            loaded = datasets.load_from_disk(name)
        except FileNotFoundError as err:
            raise CorpusError(f"{name} is not a folder written by Dataset.save_to_disk: {err}") from err
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise CorpusError(f"{name} has splits {sorted(loaded)}", "Choose one with {split=NAME}.", ("split",))
            loaded = loaded[split]
        rows: Iterable[Any] = loaded
    else:
        try:
            rows = datasets.load_dataset(name, split=split, streaming=True)
        except Exception as err:  # noqa: BLE001 - the hub raises many types
            raise CorpusError(
                f"Could not load Hugging Face dataset {name!r} (split {split!r}): {err}. "
                "Check the name and your connection, or pass a folder saved with save_to_disk."
            ) from err
    for number, record in enumerate(rows):
        yield f"{name}[{split}][row {number}]", record


def _to_document(record: Any, names: FieldNames, where: str, config: BuildConfig, stats: ReadStats) -> Document | None:
    if not isinstance(record, dict):
        _invalid(
            f"{where}: expected an object with fields, got {type(record).__name__}", config, stats, "fix the record"
        )
        return None
    id_field = next((f for f in names.id_candidates() if f in record), None)
    missing = [
        f
        for f, ok in (("/".join(names.id_candidates()), id_field is not None), (names.text, names.text in record))
        if not ok
    ]
    if missing:
        found = ", ".join(sorted(map(str, record))) or "none"
        hint = "id_field" if id_field is None else "text_field"
        _invalid(
            f"{where}: missing field {missing[0]!r} (fields found: {found})",
            config,
            stats,
            f"name the right field with {{{hint}=FIELD}}",
            (hint,),
        )
        return None
    doc_id, text, title = record[id_field], record[names.text], record.get(names.title) or ""
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        _invalid(
            f"{where}: the id in field {id_field!r} is {_json_kind(doc_id)}; ids must be strings or integers",
            config,
            stats,
            "give every document a string or integer id",
        )
        return None
    if isinstance(doc_id, str) and not doc_id.strip():
        _invalid(f"{where}: empty id in field {id_field!r}", config, stats, "give every document an id")
        return None
    if text is None:
        text = ""
    if not isinstance(text, str) or not isinstance(title, str):
        _invalid(f"{where}: text and title must be strings", config, stats, "fix the record")
        return None
    size = _utf8_size(title) + _utf8_size(text)
    if size > config.max_doc_bytes:
        _invalid(
            f"{where}: document {doc_id!r} has {size:,} bytes, over the limit of {config.max_doc_bytes:,}",
            config,
            stats,
            "split it into smaller documents or raise {max_doc_bytes=BYTES}",
            ("max_doc_bytes",),
        )
        return None
    metadata = {k: v for k, v in record.items() if k not in (id_field, names.text, names.title)}
    return Document(str(doc_id), text.replace("\x00", ""), title.replace("\x00", ""), _jsonable(metadata), where)


def _utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (encoded only when the character count leaves any doubt)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", errors="replace"))


def _json_kind(value: Any) -> str:
    kinds = {
        bool: "a boolean",
        float: "a number with a fraction",
        type(None): "null",
        dict: "an object",
        list: "a list",
    }
    return kinds.get(type(value), f"a {type(value).__name__}")


def _jsonable(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata that survives JSON: values JSON cannot hold become strings."""
    try:
        json.dumps(metadata)
        return metadata
    except (TypeError, ValueError, RecursionError):
        return {
            str(k): v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in metadata.items()
        }


def _invalid(message: str, config: BuildConfig, stats: ReadStats, fix: str, settings: tuple[str, ...] = ()) -> None:
    if not config.skip_invalid:
        raise CorpusError(
            message, f"To continue, {fix}, or pass {{skip_invalid}} to skip such records.", (*settings, "skip_invalid")
        )
    stats.skipped_invalid += 1
    stats.note(message)
