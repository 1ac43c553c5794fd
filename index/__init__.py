"""Index storage: the components (``components/``: FAISS dense vectors, the multi-vector token index of
``multivector/``, BM25), the SQLite document store with typed metadata and its filter language, the typed manifest
and the on-disk folder format, sharded indexes.

This package receives vectors and documents; it knows nothing of models.

FAISS and PyTorch each bring their own OpenMP runtime. With OpenMP's default wait policy, the threads of one keep
spinning after their work while the other's need the same cores, which slows a multi-vector query (FAISS, then
PyTorch encoding) several times over; threads that sleep when idle did not slow builds (figures in docs/service.md,
"Benchmark: the service under load"). So the passive policy is the default here, set before either library loads;
a policy the user set is left alone.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
