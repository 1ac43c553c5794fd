"""The project's encoders and indexes behind mteb 2.x's protocols, so MTEB measures this system as deployed.

- :class:`ProjectEncoder` is an mteb ``EncoderProtocol``: mteb's own exact search encodes with it and
  scores by cosine (dense) or MaxSim over ragged token vectors (multi-vector).
- :class:`IndexSearch` is an mteb ``SearchProtocol``: ``index`` builds this project's FAISS index of the
  task's corpus with the builder, ``search`` answers through the :class:`~retrieval.search.searcher.Searcher`.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from index.documents import Document
from retrieval.build.builder import build_index
from retrieval.config import BuildConfig, SearchConfig
from retrieval.encode.dense import DenseEncoder
from retrieval.encode.multivector import MultiVectorEncoder
from retrieval.registry import DENSE, MULTIVECTOR
from retrieval.search.searcher import Searcher


def model_meta(encoder: DenseEncoder | MultiVectorEncoder, configuration: str) -> Any:
    """mteb's description of a project encoder; ``configuration`` names the setup in mteb's results folders."""
    from mteb.models.model_meta import ModelMeta, ScoringFunction

    facts = encoder.describe()
    spec = str(facts["spec"])
    is_hub_id = "/" in spec and not Path(spec).exists()
    multivector = isinstance(encoder, MultiVectorEncoder)
    return ModelMeta.create_empty(
        {
            "name": spec if is_hub_id else f"modernsearch/{Path(spec).name}",
            "revision": f"{facts.get('revision') or 'local'}-{configuration}",
            "embed_dim": facts.get("dimension"),
            "max_tokens": facts.get("max_tokens"),
            "similarity_fn_name": ScoringFunction.MAX_SIM if multivector else ScoringFunction.COSINE,
            "framework": ["PyLate" if multivector else "Sentence Transformers"],
        }
    )


def _texts(inputs: Any) -> list[str]:
    return [text for batch in inputs for text in batch["text"]]


class ProjectEncoder:
    """mteb ``EncoderProtocol`` over a project encoder: queries and documents go through the project's own
    query/document encoding (ColBERT markers, lengths); similarity is cosine or MaxSim."""

    def __init__(self, encoder: DenseEncoder | MultiVectorEncoder, configuration: str = "exact") -> None:
        self.encoder = encoder
        self.mteb_model_meta = model_meta(encoder, configuration)

    def encode(
        self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any = None, **kwargs: Any
    ) -> Any:
        """Embeddings of a dataloader's texts: a matrix (dense) or one token matrix per text (multi-vector)."""
        from mteb.types import PromptType

        texts = _texts(inputs)
        if prompt_type == PromptType.query:
            return self.encoder.encode_queries(texts)
        return self.encoder.encode_documents(texts)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        """All-pairs similarity with the model's scoring function."""
        from mteb.similarity_functions import cos_sim, max_sim

        return (
            max_sim(embeddings1, embeddings2)
            if isinstance(self.encoder, MultiVectorEncoder)
            else cos_sim(embeddings1, embeddings2)
        )

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        """Row-by-row similarity with the model's scoring function."""
        from mteb.similarity_functions import pairwise_cos_sim, pairwise_max_sim

        pairwise = pairwise_max_sim if isinstance(self.encoder, MultiVectorEncoder) else pairwise_cos_sim
        return pairwise(embeddings1, embeddings2)


class IndexSearch:
    """mteb ``SearchProtocol`` backed by this project's index: the corpus is built into a temporary index
    folder (the same builder and on-disk format as ``modernsearch build``) and searched by the Searcher."""

    def __init__(
        self,
        encoder: DenseEncoder | MultiVectorEncoder,
        config: BuildConfig,
        search_config: SearchConfig = SearchConfig(),
        configuration: str = "index",
        progress: bool = True,
    ) -> None:
        self.encoder = encoder
        self.config = config
        self.search_config = search_config
        self.mteb_model_meta = model_meta(encoder, configuration)
        self.progress = progress
        self.searcher: Searcher | None = None
        self.index_bytes = 0
        self.search_seconds = 0.0
        self.queries_searched = 0
        self._scratch: Path | None = None

    @property
    def mode(self) -> str:
        return MULTIVECTOR if isinstance(self.encoder, MultiVectorEncoder) else DENSE

    def index(
        self,
        corpus: Any,
        *,
        task_metadata: Any,
        hf_split: str,
        hf_subset: str,
        encode_kwargs: Any = None,
        num_proc: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Build this project's index of the task's corpus (replacing the previous task's)."""
        self.close()
        self._scratch = Path(tempfile.mkdtemp(prefix="modernsearch-mteb-"))
        folder = self._scratch / "index"
        encoders = {"multivector_encoder": self.encoder} if self.mode == MULTIVECTOR else {"encoder": self.encoder}
        build_index(
            _documents(corpus), folder, self.config.with_changes(mode=self.mode), progress=self.progress, **encoders
        )
        self.searcher = Searcher.load(folder, **encoders)
        self.index_bytes = self.searcher.manifest.payload_bytes

    def search(
        self,
        queries: Any,
        *,
        task_metadata: Any,
        hf_split: str,
        hf_subset: str,
        top_k: int,
        encode_kwargs: Any = None,
        top_ranked: Any = None,
        num_proc: int | None = None,
        **kwargs: Any,
    ) -> dict[str, dict[str, float]]:
        """Top ``top_k`` documents per query from the index: ``{query_id: {doc_id: score}}``."""
        if self.searcher is None:
            raise RuntimeError("index() must run before search()")
        ids, texts = list(queries["id"]), list(queries["text"])
        self.searcher.search_batch(texts[:1], k=1, mode=self.mode, config=self.search_config)  # warm-up
        started = time.perf_counter()
        run: dict[str, dict[str, float]] = {}
        for start in range(0, len(ids), 32):
            results = self.searcher.search_batch(
                texts[start : start + 32], k=top_k, mode=self.mode, config=self.search_config
            )
            for qid, result in zip(ids[start : start + 32], results):
                run[str(qid)] = {hit.id: hit.score for hit in result.hits}
        self.search_seconds += time.perf_counter() - started
        self.queries_searched += len(ids)
        return run

    def close(self) -> None:
        """Remove the temporary index."""
        if self.searcher is not None:
            self.searcher.close()
            self.searcher = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def _documents(corpus: Any) -> Iterator[Document]:
    titles = corpus["title"] if "title" in corpus.column_names else [""] * len(corpus)
    for doc_id, title, text in zip(corpus["id"], titles, corpus["text"]):
        yield Document(id=str(doc_id), text=text or "", title=title or "")
