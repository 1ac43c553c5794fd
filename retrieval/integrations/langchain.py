"""A LangChain retriever over a modernsearch searcher (in-process or remote)::

retriever = ModernSearchRetriever(searcher=Searcher.load("dbpedia"), k=5, filter="year >= 2020")
documents = retriever.invoke("rivers of Europe")   # langchain Documents, metadata["score"] etc.
"""

from __future__ import annotations

from typing import Any

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as err:  # pragma: no cover - an optional extra
    raise ImportError("The LangChain retriever needs langchain-core: pip install 'modernsearch[integrations]'") from err
from pydantic import ConfigDict

from retrieval.integrations.hits import hit_metadata


class ModernSearchRetriever(BaseRetriever):
    """Documents for a query from ``searcher.search(query, k, mode, config, filter)``, best first; each document's
    metadata holds its own fields and ``id``, ``title``, ``score``, ``rank`` and each stage's score (``components``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    searcher: Any
    k: int = 10
    mode: str | None = None
    config: Any = None
    filter: Any = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        result = self.searcher.search(query, k=self.k, mode=self.mode, config=self.config, filter=self.filter)
        return [Document(page_content=hit.text, metadata=hit_metadata(hit), id=hit.id) for hit in result.hits]
