"""The built-in retrieval components (see :mod:`index.component` for their contract): dense FAISS vectors,
multi-vector token index, BM25. Each module registers its component when imported."""
