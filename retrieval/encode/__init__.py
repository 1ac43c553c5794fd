"""The model layer: text becomes vectors or terms, the same way at build and at query time.

``model_specs`` (aliases, local folders, hub ids), ``dense`` (sentence-transformers) and ``multivector`` (PyLate
ColBERT) encoders, ``onnx_backend`` and ``precision`` (runtimes), ``query_runtime`` (the light ONNX query encoder),
``chunking`` and ``documents`` (long documents in pieces), ``token_batches`` (batches by token budget), ``lexical``
(the BM25 analysers).
"""
