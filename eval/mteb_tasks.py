"""MTEB retrieval tasks: mteb's registered tasks by name, or a local BEIR folder as an offline task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.beir import DatasetError, check_judged_documents, load_beir, read_corpus_records


def local_task(folder: Path | str, name: str | None = None, split: str = "test") -> Any:
    """An ``AbsTaskRetrieval`` whose data is a local BEIR folder, read without any network access.

    The folder is validated as ``eval beir`` validates it (missing files, malformed lines, empty queries,
    judgments that name unknown queries or documents), so both evaluators see the same data.
    """
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.task_metadata import TaskMetadata

    folder = Path(folder)
    task_name = name or folder.name
    metadata = TaskMetadata(
        name=task_name,
        description=f"Local BEIR-layout retrieval dataset at {folder}.",
        dataset={"path": str(folder), "revision": "local"},
        type="Retrieval",
        category="t2t",
        modalities=["text"],
        eval_splits=[split],
        eval_langs=["eng-Latn"],
        main_score="ndcg_at_10",
        reference=None,
        date=None,
        domains=None,
        task_subtypes=None,
        license=None,
        annotations_creators=None,
        dialect=[],
        sample_creation=None,
        bibtex_citation="",
    )

    class LocalBeirTask(AbsTaskRetrieval):
        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            """Read corpus, judged queries and qrels from the folder."""
            if self.data_loaded:
                return
            self.dataset = {"default": {split: load_split(folder, split)}}
            self.data_loaded = True

    LocalBeirTask.metadata = metadata
    LocalBeirTask.__name__ = f"Local{task_name.title().replace('-', '').replace('_', '')}"
    return LocalBeirTask()


def load_split(folder: Path, split: str = "test") -> dict[str, Any]:
    """mteb's ``RetrievalSplitData`` for one split of a BEIR folder (only judged queries, as mteb's hub copies have)."""
    from datasets import Dataset

    dataset = load_beir(folder, split=split)
    corpus = _read_corpus(dataset.corpus_path)
    check_judged_documents(dataset, {row["id"] for row in corpus})
    queries = [{"id": qid, "text": text} for qid, text in dataset.judged_queries.items()]
    return {
        "corpus": Dataset.from_list(corpus),
        "queries": Dataset.from_list(queries),
        "relevant_docs": dataset.qrels,
        "top_ranked": None,
    }


def _read_corpus(path: Path) -> list[dict[str, str]]:
    rows = list(read_corpus_records(path))
    if not rows:
        raise DatasetError(f"{path} has no documents.")
    return rows


def hub_tasks(names: list[str]) -> list[Any]:
    """mteb's registered tasks by name (their data loads from the Hugging Face hub when run)."""
    import mteb

    try:
        return list(mteb.get_tasks(tasks=names))
    except (KeyError, ValueError) as err:
        raise DatasetError(f"Unknown MTEB task in {names}: {err}") from err
