"""Index storage: FAISS vector indexes, the SQLite document store and the on-disk folder format.

This package receives vectors and documents; it knows nothing of models.
"""
