"""Safety: the project writes only where it owns the folder, prints data literally, and fails with one
clean line; each test here reproduces a defect a hostile but fair user found."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from index.docstore import DocumentStore
from index.errors import IndexFormatError, UnknownComponentError
from index.format import partial_folder, read_manifest
from index.lock import lock_path, writer_lock
from index.verify import verify_index
from retrieval.build.builder import build_index
from retrieval.config import BuildConfig

from cli_runs import cli, one_clean_line, write_corpus

DOCS = [
    {"_id": "d1", "title": "Cats", "text": "cats purr and sleep in the sun"},
    {"_id": "d2", "title": "Dogs", "text": "dogs bark at the mail carrier"},
    {"_id": "d3", "title": "Birds", "text": "birds sing at dawn in the trees"},
]


def holds(index: Path, doc_id: str) -> bool:
    store = DocumentStore.open(Path(index) / "documents.sqlite")
    try:
        return store.row_id(doc_id) is not None
    finally:
        store.close()


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory, minilm) -> Path:
    folder = tmp_path_factory.mktemp("safety") / "idx"
    build_index(
        write_corpus(folder.parent / "c.jsonl", DOCS),
        folder,
        BuildConfig(model="minilm"),
        encoder=minilm,
        progress=False,
    )
    return folder


@pytest.fixture
def index_copy(copy_index, tiny_index) -> Path:
    return copy_index(tiny_index)


# ---- write only where the project owns the folder ---------------------------------------------------------


def test_a_folder_that_is_not_an_index_is_never_replaced(tmp_path):
    corpus = write_corpus(tmp_path / "c" / "base.jsonl", DOCS)
    user = tmp_path / "userdir"
    (user / "sub").mkdir(parents=True)
    (user / "important.txt").write_text("keep me")
    (user / "sub" / "k.txt").write_text("and me")
    before = tree(user)
    line = one_clean_line(cli("build", str(corpus), "--index", str(user), "--model", "minilm"))
    assert "not a modernsearch index" in line and "Choose a new folder" in line
    assert tree(user) == before
    assert sorted(os.listdir(tmp_path)) == ["c", "userdir"], "no lock, staging or partial folder left beside it"


def test_the_current_folder_holding_the_corpus_is_refused(tmp_path):
    corpus = write_corpus(tmp_path / "mycorpus.jsonl", DOCS)
    before = tree(tmp_path)
    line = one_clean_line(cli("build", "mycorpus.jsonl", "--index", ".", "--model", "minilm", cwd=tmp_path))
    assert "current folder" in line
    assert tree(tmp_path) == before and corpus.exists()


@pytest.mark.parametrize("where", ["corpus folder", "ancestor", "file"])
def test_corpus_folders_their_ancestors_and_files_are_refused(tmp_path, where):
    corpus_dir = tmp_path / "data" / "docs"
    (corpus_dir / "a.txt").parent.mkdir(parents=True)
    (corpus_dir / "a.txt").write_text("cats purr")
    (tmp_path / "notes.txt").write_text("a regular file")
    target = {"corpus folder": corpus_dir, "ancestor": tmp_path / "data", "file": tmp_path / "notes.txt"}[where]
    before = tree(tmp_path)
    line = one_clean_line(cli("build", str(corpus_dir), "--index", str(target), "--model", "minilm"))
    assert ("contains the corpus" if where != "file" else "is a file") in line
    assert tree(tmp_path) == before
    assert not list(tmp_path.rglob(".*")), "no hidden lock, staging or backup files"


def test_an_index_with_foreign_files_is_not_swapped_away(index_copy, tmp_path):
    (index_copy / "my-notes.txt").write_text("mine")
    line = one_clean_line(cli("delete", str(index_copy), "--ids", "d1"))
    assert "my-notes.txt" in line and "move them out first" in line
    assert (index_copy / "my-notes.txt").read_text() == "mine"
    assert holds(index_copy, "d1")


def test_search_on_a_plain_folder_suggests_a_new_folder(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x.txt").write_text("x")
    line = one_clean_line(cli("search", str(tmp_path / "plain"), "cats"))
    assert "--index NEW_FOLDER" in line and f"--index {tmp_path / 'plain'}" not in line


def test_a_symlinked_index_is_locked_and_swapped_at_its_real_folder(index_copy, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(index_copy)
    with writer_lock(index_copy):
        line = one_clean_line(cli("delete", str(link), "--ids", "d1"))
        assert "being written" in line
    process = cli("delete", str(link), "--ids", "d1")
    assert process.returncode == 0, process.stderr
    assert link.is_symlink() and link.resolve() == index_copy.resolve()
    assert not holds(index_copy, "d1"), "the change reached the real folder"
    assert all(check.ok for check in verify_index(index_copy))
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")], "no stray .old, staging or lock files"


def test_permissions_follow_the_umask(tmp_path, minilm):
    corpus = write_corpus(tmp_path / "c.jsonl", DOCS)
    old = os.umask(0o002)
    try:
        build_index(corpus, tmp_path / "idx", BuildConfig(model="minilm"), encoder=minilm, progress=False)
        from retrieval.build.updater import delete_documents

        delete_documents(tmp_path / "idx", ["d2"])
    finally:
        os.umask(old)
    assert (tmp_path / "idx").stat().st_mode & 0o777 == 0o775
    assert (tmp_path / "idx" / "manifest.json").stat().st_mode & 0o777 == 0o664


def test_failed_and_refused_builds_leave_no_lock_file(tmp_path, minilm):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "a", "text": "fine"}\n{not json\n')
    with pytest.raises(ValueError):
        build_index(bad, tmp_path / "idx", BuildConfig(model="minilm"), encoder=minilm, progress=False)
    assert not lock_path(tmp_path / "idx").exists()
    assert not (tmp_path / "idx").exists() and not partial_folder(tmp_path / "idx").exists()


# ---- everything printed literally ----------------------------------------------------------------------------

MARKUP = st.text(alphabet="[]/:\\abi_-", min_size=1, max_size=12)


@pytest.fixture
def fast_models(monkeypatch, minilm):
    """The session's offline model wherever the CLI would load one (this module tests output, not loading)."""
    monkeypatch.setattr("retrieval.encode.dense.DenseEncoder.load", classmethod(lambda cls, *a, **k: minilm))
    monkeypatch.setattr("retrieval.encode.dense.load_manifest_encoder", lambda *a, **k: minilm)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc_id=MARKUP, title=MARKUP, text=MARKUP, query=MARKUP)
@example(doc_id="[/i]", title="[/b] x", text=":smile:", query="://")  # "//" in a path is printed as "/"
def test_markup_in_data_and_queries_is_printed_literally(tmp_path_factory, fast_models, doc_id, title, text, query):
    from typer.testing import CliRunner

    from app.cli import app

    runner = CliRunner()
    work = tmp_path_factory.mktemp("markup")
    ids = [doc_id, doc_id + "x"]
    corpus = write_corpus(
        work / "c.jsonl", [{"_id": i, "title": title, "text": f"{text} cats {n}"} for n, i in enumerate(ids)]
    )
    index = work / "idx"

    def ok(*args: str) -> str:
        result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    ok("build", str(corpus), "--index", str(index), "--model", "minilm")
    table = ok("search", "--", str(index), f"{query} cats")  # "--": a query may start with "-"
    for literal in (doc_id, title, f"{query} cats"):
        assert literal in table, (literal, table)
    assert {h["id"] for h in json.loads(ok("search", "--json", "--", str(index), query + " cats"))["results"]} == set(
        ids
    )
    assert str(index) in ok("info", str(index))
    added = write_corpus(work / "more.jsonl", [{"_id": doc_id + "y", "title": title, "text": text}])
    ok("add", str(index), str(added))
    (work / "ids.txt").write_text(doc_id + "y\n" + doc_id + "\n")
    ok("delete", str(index), "--ids-file", str(work / "ids.txt"))
    missing_path = str(work / f"{query}-missing")  # as pathlib spells it ("a//b" is "a/b")
    missing = runner.invoke(app, ["search", "--", missing_path, query], env={"COLUMNS": "200"})
    assert missing.exit_code == 1 and missing_path in missing.output and "Traceback" not in missing.output


@pytest.mark.slow
def test_markup_ids_titles_and_queries_from_the_shell(tmp_path):
    corpus = write_corpus(
        tmp_path / "c.jsonl",
        [
            {"_id": "[/i]", "title": "[/b] closing", "text": "cats :smile: [bold red]purr"},
            {"_id": "d1", "title": "t", "text": "cats sleep"},
        ],
    )
    assert cli("build", str(corpus), "--index", str(tmp_path / "idx"), "--model", "minilm").returncode == 0
    found = cli("search", str(tmp_path / "idx"), "[/x] cats :smile:", "-k", "2")
    assert found.returncode == 0, found.stderr
    for literal in ("[/i]", "[/b] closing", ":smile: [bold red]purr", "[/x] cats :smile:"):
        assert literal in found.stdout
    line = one_clean_line(cli("build", str(tmp_path / "c" / "[/x].jsonl"), "--index", str(tmp_path / "new")))
    assert "[/x].jsonl" in line


def test_delete_with_a_markup_id_reports_success(index_copy):
    process = cli("delete", str(index_copy), "--ids", "[/bogus],d1")
    assert process.returncode == 0, process.stderr
    assert "1 deleted" in process.stdout and "'[/bogus]'" in process.stderr
    assert not holds(index_copy, "d1")


def test_output_failing_after_a_commit_still_exits_zero(index_copy, monkeypatch, fast_models):
    from typer.testing import CliRunner

    from app.cli import app
    from app.commands import indexing

    monkeypatch.setattr(indexing, "print_update", lambda *a: 1 / 0)
    result = CliRunner().invoke(app, ["delete", str(index_copy), "--ids", "d1"])
    assert result.exit_code == 0
    assert not holds(index_copy, "d1")


# ---- ids ----------------------------------------------------------------------------------------------------


def test_ids_is_a_list_and_never_reads_a_file(index_copy, tmp_path):
    id_file = tmp_path / "list.txt"
    id_file.write_text("d1\n")
    process = cli("delete", str(index_copy), "--ids", str(id_file))
    assert process.returncode == 0 and "is unchanged" in process.stdout
    assert repr(str(id_file)) in process.stderr and "d1" not in process.stderr.replace(str(id_file), "")
    process = cli("delete", str(index_copy), "--ids-file", str(id_file))
    assert process.returncode == 0 and "1 deleted" in process.stdout


def test_ids_with_spaces_are_kept_exact_at_build_and_delete(tmp_path, minilm):
    corpus = write_corpus(
        tmp_path / "c.jsonl",
        [
            {"_id": " spaced ", "text": "cats"},
            {"_id": "form\x0cfeed\u2028", "text": "birds"},
            {"_id": "plain", "text": "dogs"},
        ],
    )
    build_index(corpus, tmp_path / "idx", BuildConfig(model="minilm"), encoder=minilm, progress=False)
    (tmp_path / "ids.txt").write_bytes(" spaced \r\nform\x0cfeed\u2028\n".encode())
    process = cli("delete", str(tmp_path / "idx"), "--ids-file", str(tmp_path / "ids.txt"))
    assert process.returncode == 0 and "2 deleted" in process.stdout, process.stderr
    assert holds(tmp_path / "idx", "plain")


@pytest.mark.slow
@pytest.mark.parametrize("bad_id", ["true", "1.5", "null", "[1]"])
def test_ids_that_are_not_strings_or_integers_are_errors_naming_the_line(tmp_path, bad_id):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": 7, "text": "an integer id is fine"}\n{"_id": ' + bad_id + ', "text": "cats"}\n')
    line = one_clean_line(cli("build", str(corpus), "--index", str(tmp_path / "idx"), "--model", "minilm"))
    assert "c.jsonl:2" in line and "ids must be strings or integers" in line


def test_add_hints_name_only_flags_add_accepts(index_copy, tmp_path):
    more = tmp_path / "more.jsonl"
    more.write_text('{"_id": "n1", "body": "no text field"}\n')
    line = one_clean_line(cli("add", str(index_copy), str(more)))
    assert "missing field 'text'" in line
    assert "--" not in line.split("missing field", 1)[1], line


# ---- one clean error for every failure class ------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs mounted for the test (root only); skipped where mounting is not allowed."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root); the monkeypatched disk-full test covers the code path")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_read_only_location_gives_one_line(small_tmpfs, tiny_index, tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", DOCS)
    shutil.copytree(tiny_index, small_tmpfs / "idx")
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    line = one_clean_line(cli("build", str(corpus), "--index", str(small_tmpfs / "new"), "--model", "minilm"))
    assert "Read-only file system" in line
    line = one_clean_line(cli("delete", str(small_tmpfs / "idx"), "--ids", "d1"))
    assert "Read-only file system" in line


@pytest.mark.slow
def test_a_full_disk_gives_one_line_and_keeps_the_earlier_index(small_tmpfs, tiny_index, tmp_path):
    shutil.copytree(tiny_index, small_tmpfs / "idx")
    before = tree(small_tmpfs / "idx")
    (small_tmpfs / "filler").write_bytes(b"\0" * (1024 * 1024 - 3 * 4096 - len(b"".join(before.values()))))
    big = write_corpus(tmp_path / "big.jsonl", [{"_id": f"n{i}", "text": "cats " * 2000} for i in range(40)])
    line = one_clean_line(cli("add", str(small_tmpfs / "idx"), str(big)))
    assert "No space left on device" in line or "disk is full" in line
    assert tree(small_tmpfs / "idx") == before
    assert sorted(os.listdir(small_tmpfs)) == ["filler", "idx"], "no staging folder or lock left behind"


def test_a_failing_write_is_one_line_where_no_tmpfs_can_be_mounted(index_copy, monkeypatch, fast_models):
    import errno

    from typer.testing import CliRunner

    from app.cli import app

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(index_copy))

    monkeypatch.setattr("retrieval.build.updater.copy_payload", full)
    result = CliRunner().invoke(app, ["delete", str(index_copy), "--ids", "d1"])
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert "No space left on device" in result.output and "free some space" in result.output


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda m: m["components"]["dense"].update(model="oops"), "components.dense.model"),
        (lambda m: m["components"].update(dense="x"), "components.dense"),
        (lambda m: m.update(components={}), "components"),
        (lambda m: m.update(files=[]), "files"),
        (lambda m: m["documents"].update(count="3"), "documents.count"),
        (lambda m: m.pop("build"), "build"),
        (
            lambda m: m["files"].update({"../../etc/passwd": {"bytes": 1, "sha256": "0" * 64}}),
            "files['../../etc/passwd']",
        ),
    ],
)
def test_wrong_typed_manifests_are_reported_as_corrupt(index_copy, edit, field):
    path = index_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match=f"corrupt manifest .*: {re.escape(field)}"):
        read_manifest(index_copy)
    assert f"corrupt manifest {path}: {field}" in one_clean_line(cli("search", str(index_copy), "cats"))
    process = cli("verify", str(index_copy))
    assert process.returncode == 1 and "corrupt manifest" in process.stdout and "Traceback" not in process.stderr


def test_an_unknown_component_is_named_with_what_loads_it(index_copy):
    path = index_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["components"]["sparse"] = {}
    path.write_text(json.dumps(manifest))
    with pytest.raises(UnknownComponentError, match="holds a 'sparse' component") as caught:
        read_manifest(index_copy)
    assert caught.value.component == "sparse" and "dense" in caught.value.known
    assert "MODERNSEARCH_COMPONENTS" in one_clean_line(cli("search", str(index_copy), "cats"))


def test_the_ui_shows_a_corrupt_index_as_a_message(index_copy, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    path = index_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["components"]["dense"]["model"] = "oops"
    path.write_text(json.dumps(manifest))
    monkeypatch.setenv("MODERNSEARCH_INDEXES", str(index_copy))
    monkeypatch.setenv("MODERNSEARCH_HOME", str(tmp_path / "home"))
    at = AppTest.from_file(
        str(Path(__file__).resolve().parent.parent / "app" / "ui" / "streamlit_app.py"), default_timeout=120
    )
    at.run()
    assert not at.exception
    assert "corrupt manifest" in at.error[0].value


def test_queries_without_visible_characters_are_refused(tiny_index):
    for query in ("\x01\x1f", "\u200b\u2060\ufeff", " \t\u3000"):  # argv cannot carry NUL; the API test covers it
        assert "no visible characters" in one_clean_line(cli("search", str(tiny_index), query))
