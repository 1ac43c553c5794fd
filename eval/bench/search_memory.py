"""Peak memory of search alone: a fresh process opens a multi-vector index folder and answers the queries.

Run by ``bench multivector`` so the figure is not the benchmark process's high-water mark (which includes
building, and exact MaxSim's pass over every token): ``python -m eval.bench.search_memory INDEX_DIR QUERIES.npz
RECORDED``,
``RECORDED`` the JSON of what a manifest keeps for the index (``search_params``, ``unit_tokens``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench.process_memory import peak_rss_mib
from index.multivector.token_index import MultiVectorIndex


def search_peak_rss_mib(index_dir: Path, queries: list[np.ndarray], recorded: dict[str, Any], k: int = 100) -> float:
    """Open the index (token store memory-mapped) as ``recorded`` says, answer every query with its knobs, return peak
    RSS."""
    index = MultiVectorIndex.load(index_dir, **recorded)
    for query in queries:
        index.search(query, k)
    return peak_rss_mib()


if __name__ == "__main__":
    stored = np.load(sys.argv[2])
    print(
        json.dumps(
            {
                "peak_rss_mib": round(
                    search_peak_rss_mib(
                        Path(sys.argv[1]), [stored[key] for key in stored.files], json.loads(sys.argv[3])
                    ),
                    1,
                )
            }
        )
    )
