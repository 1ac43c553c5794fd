"""The demo corpus: documentation of the Python standard library, present on every machine without downloads.

Each public module, class, function and method with a docstring becomes one
document (id ``json.dumps``, title with the signature, text the docstring). The
source is parsed with :mod:`ast`, never imported, so nothing runs and the result
is the same on every run of the same Python.
"""

from __future__ import annotations

import ast
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from index.documents import Document

SKIPPED_PACKAGES = {
    "test",
    "idlelib",
    "lib2to3",
    "turtledemo",
    "ensurepip",
    "site-packages",
    "__pycache__",
    "pydoc_data",
}
MIN_DOC_CHARS = 40


def stdlib_root() -> Path:
    """Folder of the running interpreter's standard library sources."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_documents(root: Path | None = None) -> Iterator[Document]:
    """Yield one document per documented public module, class, function and method."""
    root = root or stdlib_root()
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if any(part in SKIPPED_PACKAGES or part.startswith(("_", ".")) for part in relative.parts[:-1]):
            continue
        if relative.name.startswith("_") and relative.name != "__init__.py":
            continue
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        yield from _documents_of(tree, module, module)


def _documents_of(node: ast.AST, qualname: str, module: str) -> Iterator[Document]:
    doc = (
        ast.get_docstring(node, clean=True)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        else None
    )
    if doc and len(doc) >= MIN_DOC_CHARS:
        yield Document(
            id=qualname,
            title=_title(node, qualname),
            text=doc,
            metadata={"kind": _kind(node), "module": module},
            source=f"stdlib:{module}",
        )
    if isinstance(node, (ast.Module, ast.ClassDef)):
        for child in node.body:
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and not child.name.startswith(
                "_"
            ):
                yield from _documents_of(child, f"{qualname}.{child.name}", module)


def _kind(node: ast.AST) -> str:
    return {ast.Module: "module", ast.ClassDef: "class"}.get(type(node), "function")


def _title(node: ast.AST, qualname: str) -> str:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = ast.unparse(node.args)
        if args.startswith("self") or args.startswith("cls"):
            args = args.partition(", ")[2] if ", " in args else ""
        return f"{qualname}({args})"
    if isinstance(node, ast.ClassDef):
        return f"class {qualname}"
    return f"module {qualname}"
