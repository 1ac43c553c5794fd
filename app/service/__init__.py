"""The HTTP search service: a FastAPI application over one or more index folders (``modernsearch serve``)."""
