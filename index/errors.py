"""Errors raised when an index folder cannot be read or written."""

from __future__ import annotations


class SettingError(ValueError):
    """A setting has a value it cannot take. ``setting`` is the parameter's name (the CLI shows its flag instead),
    ``value`` what was given and ``requirement`` what it must be."""

    def __init__(self, setting: str, value: object, requirement: str) -> None:
        self.setting, self.value, self.requirement = setting, value, requirement
        super().__init__(f"{setting} {requirement}, got {value!r}")


class IndexFormatError(Exception):
    """An index folder is missing, incomplete, corrupt or of an unknown format."""


class IndexNotFoundError(IndexFormatError):
    """No index exists at the given folder (``folder``)."""

    def __init__(self, message: str, folder: object = None) -> None:
        self.folder = folder
        super().__init__(message)


class NotAnIndexError(IndexFormatError):
    """A folder has no manifest: it is not an index, or its build did not finish (``folder``)."""

    def __init__(self, message: str, folder: object = None) -> None:
        self.folder = folder
        super().__init__(message)


class ChecksumMismatchError(IndexFormatError):
    """A payload file does not match the checksum recorded in the manifest."""


class UnknownComponentError(IndexFormatError):
    """An index holds a component no registered module provides (``component``): a component of another package
    that this process did not load, or an index of a newer modernsearch."""

    def __init__(self, path: object, component: str, known: tuple[str, ...]) -> None:
        self.path, self.component, self.known = path, component, known
        super().__init__(
            f"{path}: the index holds a {component!r} component, which this modernsearch does not know (it knows "
            f"{', '.join(known)}). If a package provides it, name its module in MODERNSEARCH_COMPONENTS."
        )
