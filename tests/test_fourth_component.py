"""A fourth index component added from this one module: exact-phrase search. Registering it (both halves at once)
is all it takes for it and its two settings to appear in ``build --mode``, ``search --mode``, their options, hybrid
fusion, ``info``, the UI's mode switch and the service's OpenAPI schema.

The module is its own plugin: a subprocess that names it in ``MODERNSEARCH_COMPONENTS`` imports it, and it registers
the component then; in this process the ``phrase`` fixture registers it for the tests that use it and removes it
after, so that no other test sees a fourth component.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.service.api import create_app
from app.service.indexes import ServedIndexes
from index.component import PLUGINS_VARIABLE, Ranking, same_ids, sorted_ids
from index.errors import IndexFormatError
from index.format import write_json_atomic
from index.sections import Section
from retrieval import Searcher, build_index
from retrieval.config import BuildConfig, SearchConfig, component_setting
from retrieval.registry import Role, Setting, build_modes, register, search_modes, unregister
from retrieval.search.pipeline import fuse_scores

from cli_runs import ENV, cli

NAME = "phrase"
FILE = "phrase-texts.json"


@dataclasses.dataclass
class PhraseSection(Section):
    documents: int
    fold_case: bool = True


class PhraseComponent:
    """Each document's lower-cased text; a query scores a document by how often its exact phrase occurs there."""

    name: ClassVar[str] = NAME
    section_type: ClassVar[type[Section]] = PhraseSection
    incremental: ClassVar[bool] = False

    def __init__(self, texts: Mapping[int, str], fold_case: bool = True) -> None:
        self.texts, self.fold_case = dict(texts), fold_case

    @classmethod
    def build(cls, rows: Any, settings: Mapping[str, Any]) -> PhraseComponent:
        return cls(rows, settings["fold_case"])

    @classmethod
    def load(cls, folder: Path, section: PhraseSection, *, writable: bool = False) -> PhraseComponent:
        stored = json.loads((Path(folder) / FILE).read_text(encoding="utf-8"))
        return cls({int(row): text for row, text in stored.items()}, section.fold_case)

    def save(self, folder: Path) -> list[str]:
        write_json_atomic(Path(folder) / FILE, {str(row): text for row, text in self.texts.items()})
        return [FILE]

    def add(self, rows: Any) -> PhraseComponent:
        raise NotImplementedError("rebuilt from every document")

    def remove(self, row_ids: np.ndarray) -> PhraseComponent:
        raise NotImplementedError("rebuilt from every document")

    def part(self, row_ids: np.ndarray) -> PhraseComponent:
        return PhraseComponent({r: self.texts[r] for r in map(int, row_ids) if r in self.texts}, self.fold_case)

    def row_ids(self) -> np.ndarray:
        return sorted_ids(list(self.texts))

    def search(self, queries: Sequence[Any], k: int, *, allowed: Any = None, options: Any = None) -> list[Ranking]:
        admitted = None if allowed is None else set(np.asarray(allowed).tolist())
        least = (options or {}).get("phrase_min_count", 1)
        found = []
        for phrase in queries:
            counts = {
                row: text.count(phrase)
                for row, text in self.texts.items()
                if phrase and (admitted is None or row in admitted)
            }
            best = sorted((r for r, n in counts.items() if n and n >= least), key=lambda r: (-counts[r], r))[:k]
            found.append(Ranking(np.array(best, dtype=np.int64), np.array([counts[r] for r in best], np.float32)))
        return found

    def describe(self) -> dict[str, Any]:
        return {"documents": len(self.texts), "fold_case": self.fold_case}

    def training_fit(self) -> None:
        return None

    def drift(self, section: PhraseSection) -> None:
        return None

    @classmethod
    def summary(cls, section: PhraseSection) -> list[tuple[str, str]]:
        return [("exact phrase", f"{section.documents:,} documents")]

    @classmethod
    def label(cls, section: PhraseSection) -> str:
        return "Phrase"

    @classmethod
    def verify(cls, folder: Path, section: PhraseSection, row_ids: np.ndarray) -> str:
        path = Path(folder) / FILE
        if not path.exists():
            raise IndexFormatError(f"{path} is missing")
        same_ids(str(path), np.array([int(r) for r in json.loads(path.read_text(encoding="utf-8"))]), row_ids)
        return f"{len(row_ids):,} documents"


class PhraseRecipe:
    """No model: the stored texts, lower-cased; queries lower-cased alike."""

    name = NAME
    component = PhraseComponent
    role = Role(
        (NAME, "hybrid"),
        fusion="lexical",
        build_settings=(Setting("phrase_fold_case", True, "Match phrases whatever their case."),),
        search_settings=(Setting("phrase_min_count", 1, "Occurrences a document needs to match a phrase."),),
    )
    score_name = NAME
    score_range = (0.0, None)
    scratch_files: tuple[str, ...] = ()

    def wanted(self, config: BuildConfig) -> bool:
        return self.name in config.components

    def load_encoder(self, config: BuildConfig, device: str | None) -> None:
        return None

    def stored_encoder(self, model: Any, device: str | None, *, queries_only: bool = False) -> None:
        return None

    def describe_encoding(self, encoder: Any, config: BuildConfig, counts: dict[str, int]) -> dict[str, Any]:
        return {}

    def write_chunks(self, scratch: Any, rows: np.ndarray, chunks: Any, outputs: Any) -> None:
        raise TypeError("no encoder, so no chunks")

    def rows_for_build(self, staging: Path, store: Any, encoder: Any, config: BuildConfig) -> dict[int, str]:
        fold = component_setting(config, "phrase_fold_case")
        return {row: _folded(text, fold) for ids, texts in store.iter_texts(1024) for row, text in zip(ids, texts)}

    def encode_rows(self, encoder: Any, store: Any, rows: np.ndarray, texts: Sequence[str], config: Any) -> Any:
        fold = component_setting(config, "phrase_fold_case")
        return {int(row): _folded(text, fold) for row, text in zip(rows, texts)}

    def build_settings(self, config: BuildConfig) -> dict[str, Any]:
        return {"fold_case": component_setting(config, "phrase_fold_case")}

    def encode_queries(self, encoder: Any, queries: Sequence[str], section: Any = None) -> list[str]:
        return [_folded(q.strip(), section.fold_case) for q in queries]

    def prepare_queries(self, encoder: Any) -> None:
        return None


def _folded(text: str, fold: bool) -> str:
    return text.lower() if fold else text


if __name__ in os.environ.get(PLUGINS_VARIABLE, "").split(","):  # imported as a plugin by a subprocess
    register(PhraseRecipe())


DOCS = [
    {"_id": "river", "title": "Rhine", "text": "The Rhine is a river in Europe. The river flows to the North Sea."},
    {"_id": "painter", "title": "Vermeer", "text": "Johannes Vermeer was a Dutch painter of quiet interiors."},
    {"_id": "football", "title": "Pele", "text": "Pele was a Brazilian football player, a famous football star."},
    {"_id": "mountain", "title": "Alps", "text": "The Alps are mountains in Europe; a river rises in the Alps."},
    {"_id": "city", "title": "Rome", "text": "Rome is the capital city of Italy, on the river Tiber."},
    {"_id": "composer", "title": "Bach", "text": "Johann Sebastian Bach was a German composer of the Baroque."},
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("phrase") / "corpus.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    return path


@pytest.fixture
def phrase():
    register(PhraseRecipe())
    yield
    unregister(NAME)


@pytest.fixture
def hybrid_with_phrase(phrase, corpus, tmp_path, minilm, minilm_colbert) -> Path:
    config = BuildConfig(mode="hybrid", model="minilm", multivector_model="minilm-colbert")
    build_index(corpus, tmp_path / "index", config, encoder=minilm, multivector_encoder=minilm_colbert)
    return tmp_path / "index"


def plugin_env() -> dict[str, str]:
    here = str(Path(__file__).resolve().parent)
    return {**ENV, PLUGINS_VARIABLE: Path(__file__).stem, "PYTHONPATH": os.pathsep.join([str(Path(here).parent), here])}


@pytest.mark.slow
def test_the_command_line_builds_searches_and_describes_it(corpus, tmp_path):
    env = plugin_env()
    assert NAME in cli("build", "--help", env=env).stdout.split("Choices:")[1].split("]")[0]
    assert f"{NAME}," in cli("search", "--help", env=env).stdout.replace("\n", " ").replace("│", "")
    index = tmp_path / "index"
    built = cli("build", str(corpus), "--index", str(index), "--mode", NAME, env=env)
    assert built.returncode == 0, built.stderr
    found = cli("search", str(index), "River", "--mode", NAME, "--json", env=env)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["results"]
    assert [h["id"] for h in hits] == ["river", "mountain", "city"], "two occurrences first, then ties by row"
    assert [h["score"] for h in hits] == [2.0, 1.0, 1.0]
    info = cli("info", str(index), env=env)
    assert info.returncode == 0, info.stderr
    assert "exact phrase" in info.stdout and "6 documents" in info.stdout
    assert cli("verify", str(index), env=env).returncode == 0
    at_least_two = cli("search", str(index), "River", "--mode", NAME, "--phrase-min-count", "2", "--json", env=env)
    assert [h["id"] for h in json.loads(at_least_two.stdout)["results"]] == ["river"], "its search setting is an option"
    exact_case = tmp_path / "exact-case"
    built = cli("build", str(corpus), "--index", str(exact_case), "--mode", NAME, "--no-phrase-fold-case", env=env)
    assert built.returncode == 0, built.stderr
    for query, expected in (("River", []), ("Rhine", ["river"])):
        found = cli("search", str(exact_case), query, "--mode", NAME, "--json", env=env)
        assert [h["id"] for h in json.loads(found.stdout)["results"]] == expected, "its build setting is an option"
    without = cli("search", str(index), "the river", "--mode", NAME, env={**ENV, "PYTHONPATH": env["PYTHONPATH"]})
    assert without.returncode == 1 and "name its module in MODERNSEARCH_COMPONENTS" in without.stderr


def test_hybrid_fuses_it_with_dense_and_bm25(hybrid_with_phrase):
    searcher = Searcher.load(hybrid_with_phrase)
    assert searcher.modes == ["hybrid", "dense", "multivector", "bm25", NAME]
    assert searcher.stage("hybrid") == ("dense", "bm25", NAME)
    config = SearchConfig(candidates=6)
    result = searcher.search("a river in europe", k=6, mode="hybrid", config=config)
    assert NAME in result.hits[0].components, "the phrase component's score is one of the fused stage's"
    parts = {
        name: {searcher.row_of(h.id): h.score for h in searcher.search("a river in europe", 6, name, config).hits}
        for name in ("dense", "bm25", NAME)
    }
    expected = fuse_scores(list(parts), list(parts.values()), config)  # alpha to dense, 1 - alpha shared by two
    assert [searcher.row_of(h.id) for h in result.hits] == [row for row, _ in expected][: len(result.hits)]
    assert [h.score for h in result.hits] == pytest.approx([score for _, score in expected][: len(result.hits)])
    reranked = searcher.search("the river", k=3, mode=NAME, config=SearchConfig(rerank="multivector"))
    assert "maxsim" in reranked.hits[0].components, "it can be reranked by the component that rescores"
    searcher.close()


def test_the_ui_offers_it_in_the_mode_switch(hybrid_with_phrase, monkeypatch, tmp_path):
    from test_ui_apptest import search, start

    at = start(monkeypatch, tmp_path, [hybrid_with_phrase])
    assert at.radio[0].options == ["hybrid", "dense", "multivector", "bm25", NAME]
    at.radio[0].set_value(NAME)
    search(at, "the river")
    assert not at.exception
    assert "Rhine" in "\n".join(str(m.value) for m in [*at.markdown, *at.html])


def test_the_service_schema_and_search_know_it(hybrid_with_phrase):
    indexes = ServedIndexes({"small": hybrid_with_phrase})
    with TestClient(create_app(indexes)) as client:
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        modes = next(b for b in schema["SearchRequest"]["properties"]["mode"]["anyOf"] if b.get("type") == "string")
        assert NAME in modes["enum"]
        answer = client.post("/indexes/small/search", json={"query": "the river", "mode": NAME, "k": 2})
        assert answer.status_code == 200, answer.text
        assert [h["id"] for h in answer.json()["results"]] == ["river", "city"]
        declared = schema["SearchRequest"]["properties"]["component_settings"]["anyOf"][0]["properties"]
        assert declared["phrase_min_count"]["default"] == 1
        at_least_two = {"query": "River", "mode": NAME, "component_settings": {"phrase_min_count": 2}}
        assert [h["id"] for h in client.post("/indexes/small/search", json=at_least_two).json()["results"]] == ["river"]
        unknown = {"query": "River", "mode": NAME, "component_settings": {"phrase_max_count": 2}}
        assert client.post("/indexes/small/search", json=unknown).status_code in (400, 422)
    indexes.close()


def test_registering_and_removing_it_changes_every_derived_list(phrase):
    assert build_modes() == ("dense", "multivector", NAME, "both", "hybrid")
    assert search_modes() == ("dense", "multivector", "bm25", NAME, "hybrid")
    assert BuildConfig(mode="hybrid").components == ("dense", "multivector", "bm25", NAME)
    unregister(NAME)
    assert build_modes() == ("dense", "multivector", "both", "hybrid")
    assert search_modes() == ("dense", "multivector", "bm25", "hybrid")
    with pytest.raises(ValueError, match="mode must be one of dense, multivector, both, hybrid"):
        BuildConfig(mode=NAME)
