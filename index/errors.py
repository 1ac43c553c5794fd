"""Errors raised when an index folder cannot be read or written."""

from __future__ import annotations


class IndexFormatError(Exception):
    """An index folder is missing, incomplete, corrupt or of an unknown format."""


class IndexNotFoundError(IndexFormatError):
    """No index exists at the given folder."""


class ChecksumMismatchError(IndexFormatError):
    """A payload file does not match the checksum recorded in the manifest."""
