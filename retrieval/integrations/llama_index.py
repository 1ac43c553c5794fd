"""A LlamaIndex retriever over a modernsearch searcher (in-process or remote)::

retriever = ModernSearchLlamaRetriever(RemoteSearcher("http://127.0.0.1:8000", "dbpedia"), k=5)
nodes = retriever.retrieve("rivers of Europe")     # NodeWithScore list, best first
"""

from __future__ import annotations

from typing import Any

try:
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
except ImportError as err:  # pragma: no cover - an optional extra
    raise ImportError(
        "The LlamaIndex retriever needs llama-index-core: pip install 'modernsearch[integrations]'"
    ) from err

from retrieval.integrations.hits import hit_metadata


class ModernSearchLlamaRetriever(BaseRetriever):
    """Nodes with scores for a query from ``searcher.search(...)``, best first (metadata as in the LangChain
    retriever)."""

    def __init__(
        self, searcher: Any, k: int = 10, mode: str | None = None, config: Any = None, filter: Any = None
    ) -> None:
        super().__init__()
        self.searcher, self.k, self.mode, self.config, self.filter = searcher, k, mode, config, filter

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = self.searcher.search(
            query_bundle.query_str, k=self.k, mode=self.mode, config=self.config, filter=self.filter
        )
        return [
            NodeWithScore(node=TextNode(id_=hit.id, text=hit.text, metadata=hit_metadata(hit)), score=hit.score)
            for hit in result.hits
        ]
