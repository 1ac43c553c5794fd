"""Retrievers for RAG frameworks over a :class:`retrieval.Searcher` or :class:`retrieval.RemoteSearcher`
(``pip install modernsearch[integrations]``): :mod:`.langchain` and :mod:`.llama_index`."""
