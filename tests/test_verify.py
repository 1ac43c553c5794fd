"""`modernsearch verify`: checksums of every payload file and the cross-references between an index's parts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from index.format import describe_files
from index.verify import verify_index


def rewrite_checksums(folder):
    """What a buggy writer would leave: payload changed and the manifest re-signed, so only cross-references can
    tell."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"] = {
        name: entry.to_json() for name, entry in describe_files(folder, list(manifest["files"])).items()
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_fresh_hybrid_index_passes_every_check(small_index):
    checks = verify_index(small_index)
    assert [c.name for c in checks] == [
        "manifest",
        "checksums",
        "documents",
        "metadata",
        "dense ids",
        "multivector ids",
        "bm25 ids",
    ]
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    count = json.loads((small_index / "manifest.json").read_text())["documents"]["count"]
    assert f"{count:,} documents" in checks[2].detail and "every value on a stored document" in checks[3].detail


def test_every_payload_file_flipped_or_truncated_is_named(copy_of_small_index):
    names = list(json.loads((copy_of_small_index / "manifest.json").read_text())["files"])
    assert len(names) == 16, "documents, dense, 8 multi-vector and 6 bm25 files"
    for name in names:
        path = copy_of_small_index / name
        original = path.read_bytes()
        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0x01
        for damaged, expected in (
            (bytes(flipped), "does not match its checksum"),
            (original[: len(original) // 2], "was truncated"),
        ):
            path.write_bytes(damaged)
            checks = verify_index(copy_of_small_index)
            failed = [c for c in checks if not c.ok]
            assert (
                [c.name for c in failed] == ["checksums"] and name in failed[0].detail and expected in failed[0].detail
            )
        path.write_bytes(original)
    assert all(c.ok for c in verify_index(copy_of_small_index))


def test_dense_ids_that_do_not_match_the_documents_are_found(copy_of_small_index):
    import faiss

    from index.chunks import pack_ids, unpack_ids

    index = faiss.read_index(str(copy_of_small_index / "dense.faiss"))
    ids = faiss.vector_to_array(index.id_map)
    rows, _ = unpack_ids(ids)
    whole = ids[np.flatnonzero(np.bincount(rows)[rows] == 1)[0]]  # the vector of a document in one chunk
    vector = index.reconstruct(int(whole))
    index.remove_ids(np.array([whole], dtype=np.int64))
    index.add_with_ids(
        vector[None, :], pack_ids(np.array([10**6]), np.array([0]))
    )  # moved to a document that does not exist
    faiss.write_index(index, str(copy_of_small_index / "dense.faiss"))
    rewrite_checksums(copy_of_small_index)
    failed = [c for c in verify_index(copy_of_small_index) if not c.ok]
    assert [c.name for c in failed] == ["dense ids"]
    assert (
        f"documents without an entry: [{whole >> 16}]" in failed[0].detail
        and "entries without a document: [1000000]" in failed[0].detail
    )


def test_token_offsets_that_overrun_the_token_store_are_found(copy_of_small_index):
    path = copy_of_small_index / "mv_doc_offsets.npy"
    offsets = np.load(path)
    offsets[-1] += 7
    np.save(path, offsets)
    rewrite_checksums(copy_of_small_index)
    failed = [c for c in verify_index(copy_of_small_index) if not c.ok]
    assert [c.name for c in failed] == ["multivector ids"] and "offsets must rise from 0" in failed[0].detail


def test_cli_verify_exit_codes(copy_of_small_index):
    env = {**os.environ, "COLUMNS": "200"}
    ok = subprocess.run(
        [sys.executable, "-m", "app.cli", "verify", str(copy_of_small_index)], capture_output=True, text=True, env=env
    )
    assert ok.returncode == 0 and ok.stdout.count("│ ok │") == 7
    (copy_of_small_index / "bm25" / "row_ids.npy").write_bytes(b"garbage")
    bad = subprocess.run(
        [sys.executable, "-m", "app.cli", "verify", str(copy_of_small_index)], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 1 and "FAILED" in bad.stdout and "bm25/row_ids.npy" in bad.stdout
    assert "Rebuild the index" in bad.stderr and "Traceback" not in bad.stderr
