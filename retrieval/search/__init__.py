"""The query path: a query becomes ranked hits over one committed version of an index.

``searcher`` (the public :class:`Searcher`), ``opening`` (one consistent version of a folder), ``pipeline`` (first
stage, fusion, rerank), ``fusion`` (rank fusion rules), ``results`` (hits and candidates), ``explanations`` and
``highlight`` (why a document matched), ``query_text`` (what counts as a query), ``remote`` (the same calls over HTTP).
"""
