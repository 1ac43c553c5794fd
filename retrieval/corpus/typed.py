"""Documents with typed metadata: the index's field types learned from each batch and enforced on every document."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from index.documents import Document
from index.metadata import MetadataSchema, MetadataTypeError
from retrieval.config import BuildConfig
from retrieval.corpus.readers import CorpusError, ReadStats


def schema_for(config: BuildConfig, types: dict[str, str] | None = None) -> MetadataSchema:
    """The metadata schema a build or update with ``config`` keeps, starting from already recorded ``types``."""
    return MetadataSchema(dict(types or {}), only=config.metadata_field_names, enabled=config.metadata)


def typed_batch(
    batch: Sequence[Document], schema: MetadataSchema, config: BuildConfig, stats: ReadStats
) -> list[Document]:
    """The batch with each document's metadata checked against (and first teaching) ``schema``.

    A value that does not have its field's type fails the build with file, line, field and both types
    (``on_type_error=fail``), is dropped (``null``), or drops its document (``skip``).
    """
    strict = config.on_type_error == "fail"
    try:
        schema.learn(((d.source, d.metadata) for d in batch), strict=strict)
    except MetadataTypeError as err:
        raise _corpus_error(err) from None
    typed = []
    for doc in batch:
        metadata = dict(doc.metadata)
        while True:
            try:
                checked = schema.check(metadata, doc.source)
                break
            except MetadataTypeError as err:
                if strict:
                    raise _corpus_error(err) from None
                stats.note(str(err))
                if config.on_type_error == "skip":
                    stats.skipped_invalid += 1
                    checked = None
                    break
                metadata.pop(err.field)  # stored as null
        if checked is not None:
            typed.append(dataclasses.replace(doc, metadata=checked))
    return typed


def _corpus_error(err: MetadataTypeError) -> CorpusError:
    return CorpusError(
        str(err),
        "Fix the value, or pass {on_type_error=null} to store such values as null or {on_type_error=skip} to skip "
        "their documents",
        ("on_type_error",),
    )
