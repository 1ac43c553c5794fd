"""The component contract: a component registered by a test alone goes through build, add, delete, verify, compact,
info and search by the generic paths; and every built-in component's filtered search equals filtering its full
answer."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from index.component import Ranking, component_type, same_ids, sorted_ids
from index.format import manifest_summary, read_manifest
from index.sections import Section
from index.verify import verify_index
from retrieval import BuildConfig, Searcher, add_documents, build_index, compact_index, delete_documents
from retrieval.components import Role, recipes, register, unregister

WORDS_FILE = "words.json"


def words(text: str) -> list[str]:
    return sorted({w.strip(".,!?").lower() for w in text.split() if len(w) > 3})


@dataclass
class WordSection(Section):
    documents: int
    file: str = WORDS_FILE


@dataclass(frozen=True)
class WordRows:
    words: list[list[str]]
    row_ids: np.ndarray


class WordComponent:
    """Counts the query's words (longer than three letters) that a document contains."""

    name: ClassVar[str] = "words"
    section_type: ClassVar[type[Section]] = WordSection
    incremental: ClassVar[bool] = True

    def __init__(self, table: dict[int, list[str]]) -> None:
        self.table = table

    @classmethod
    def build(cls, rows: WordRows, settings: Mapping[str, Any]) -> WordComponent:
        return cls(dict(zip(rows.row_ids.tolist(), rows.words)))

    @classmethod
    def load(cls, folder: Path, section: WordSection, *, writable: bool = False) -> WordComponent:
        return cls({int(k): v for k, v in json.loads((folder / section.file).read_text()).items()})

    def save(self, folder: Path) -> list[str]:
        (folder / WORDS_FILE).write_text(json.dumps(self.table))
        return [WORDS_FILE]

    def add(self, rows: WordRows) -> WordComponent:
        return WordComponent({**self.table, **dict(zip(rows.row_ids.tolist(), rows.words))})

    def remove(self, row_ids: np.ndarray) -> WordComponent:
        return WordComponent({row: w for row, w in self.table.items() if row not in set(row_ids.tolist())})

    def row_ids(self) -> np.ndarray:
        return sorted_ids(list(self.table))

    def search(
        self,
        queries: Sequence[Any],
        k: int,
        *,
        allowed: np.ndarray | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> list[Ranking]:
        found = []
        for query in queries:
            scored = sorted(
                (
                    (-len(set(query) & set(w)), row)
                    for row, w in self.table.items()
                    if (allowed is None or row in allowed) and set(query) & set(w)
                )
            )[:k]
            found.append(
                Ranking(
                    np.array([r for _, r in scored], dtype=np.int64),
                    np.array([-s for s, _ in scored], dtype=np.float32),
                )
            )
        return found

    def describe(self) -> dict[str, Any]:
        return {"documents": len(self.table)}

    def training_fit(self) -> None:
        return None

    def drift(self, section: WordSection) -> None:
        return None

    @classmethod
    def summary(cls, section: WordSection) -> list[tuple[str, str]]:
        return [("words", f"{section.documents} documents")]

    @classmethod
    def label(cls, section: WordSection) -> str:
        return "words"

    @classmethod
    def verify(cls, folder: Path, section: WordSection, row_ids: np.ndarray) -> str:
        same_ids(str(folder / section.file), [int(k) for k in json.loads((folder / section.file).read_text())], row_ids)
        return f"{len(row_ids)} documents"


class WordRecipe:
    name = "words"
    component = WordComponent
    role = Role(("words",))  # and wanted by every build, whatever its mode
    score_name = "words"
    scratch_files: tuple[str, ...] = ()

    def wanted(self, config: BuildConfig) -> bool:
        return True

    def load_encoder(self, config, device):
        return None

    def stored_encoder(self, model, device, *, queries_only=False):
        return None

    def describe_encoding(self, encoder, config, counts):
        return {}

    def write_chunks(self, scratch, rows, chunks, outputs):
        raise AssertionError("no encoder, no chunks")

    def rows_for_build(self, staging, store, encoder, config) -> WordRows:
        rows, texts = [], []
        for ids, batch in store.iter_texts():
            rows += ids
            texts += batch
        return self.encode_rows(encoder, store, np.array(rows), texts, config)

    def encode_rows(self, encoder, store, rows, texts, config) -> WordRows:
        return WordRows([words(t) for t in texts], np.asarray(rows, dtype=np.int64))

    def build_settings(self, config):
        return {}

    def encode_queries(self, encoder, queries, section=None):
        return [words(q) for q in queries]

    def prepare_queries(self, encoder):
        return None


@pytest.fixture
def word_component():
    register(WordRecipe())
    yield
    unregister("words")


def jsonl(path: Path, records: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in records))
    return path


def test_a_component_registered_by_a_test_goes_through_every_generic_path(word_component, tmp_path, minilm):
    corpus = jsonl(
        tmp_path / "c.jsonl",
        [
            ("lion", "Lions hunt zebras across the savanna"),
            ("cello", "The cello plays deep notes"),
            ("rain", "Monsoon rain floods the river valley"),
        ],
    )
    index = tmp_path / "idx"
    build_index(corpus, index, BuildConfig(), encoder=minilm, progress=False)
    manifest = read_manifest(index)
    assert list(manifest.components) == ["dense", "words"] and manifest.components["words"].documents == 3
    assert ("words", "3 documents") in manifest_summary(manifest)
    assert [c.name for c in verify_index(index) if c.ok] == [
        "manifest",
        "checksums",
        "documents",
        "metadata",
        "dense ids",
        "words ids",
    ]
    searcher = Searcher.load(index, encoder=minilm)
    assert searcher.modes == ["dense", "words"]
    result = searcher.search("where do zebras and lions live", k=3, mode="words")
    assert result.ids == ["lion"] and result.hits[0].components == {"words": 2.0}

    add_documents(
        index, jsonl(tmp_path / "more.jsonl", [("zebra", "Zebras graze; lions watch")]), encoder=minilm, progress=False
    )
    assert Searcher.load(index, encoder=minilm).search("zebras lions", k=3, mode="words").ids == ["lion", "zebra"]
    delete_documents(index, ["lion"])
    assert Searcher.load(index, encoder=minilm).search("zebras lions", k=3, mode="words").ids == ["zebra"]
    compact_index(index, retrain="always", encoder=minilm, progress=False)
    assert all(c.ok for c in verify_index(index))
    assert read_manifest(index).components["words"].documents == 3
    assert Searcher.load(index, encoder=minilm).search("monsoon river", k=3, mode="words").ids == ["rain"]


def test_unregistered_components_leave_the_built_in_ones(word_component):
    assert "words" in recipes()
    unregister("words")
    assert list(recipes()) == ["dense", "multivector", "bm25"]
    with pytest.raises(Exception, match="unknown index component 'words'"):
        component_type("words")


def exact_ranking(scores: np.ndarray, rows: np.ndarray) -> Ranking:
    order = np.lexsort((rows, -scores))
    return Ranking(rows[order], scores[order])


@pytest.mark.parametrize("name", ["dense", "multivector", "bm25"])
def test_filtered_search_equals_filtering_the_full_ranking(small_index, minilm, minilm_colbert, name):
    """Oracle: with ``allowed``, a component answers what its exhaustive ranking filtered to those documents says."""
    searcher = Searcher.load(small_index, encoder=minilm, multivector_encoder=minilm_colbert)
    component = searcher.component(name)
    queries = ["capital city of a european country", "rock band from england", "species of bird"]
    encoded = recipes()[name].encode_queries(searcher.encoder_for(name), queries)
    every = component.row_ids()
    allowed = np.sort(np.random.default_rng(0).choice(every, size=len(every) // 3, replace=False))
    if hasattr(component, "rescore"):  # approximate first stage: the oracle is exact MaxSim over every document
        full = [exact_ranking(component.rescore(q, every), every) for q in encoded]
    else:
        full = component.search(encoded, len(every))
    filtered = component.search(encoded, 10, allowed=allowed)
    for whole, part in zip(full, filtered):
        keep = np.isin(whole.rows, allowed)
        assert part.rows.tolist() == whole.rows[keep][:10].tolist()
        np.testing.assert_allclose(part.scores, whole.scores[keep][:10], rtol=1e-5)
        assert len(part) > 0
