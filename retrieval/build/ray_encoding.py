"""The build's encoding pass on Ray (``--engine ray``): a Ray Data actor pool encodes the steps, the build commits them.

The documents are already in the staging folder's store (reading is quick and reports bad records as a local build
does). Ray Data maps the list of steps over a pool of encoder actors (``concurrency`` = ``--encode-workers``, each
loading the models once, on ``--gpus-per-worker`` GPUs); an actor reads its step's texts from the store (the staging
folder must be on a filesystem the workers share) and encodes them exactly as the local pass does
(:func:`retrieval.build.encoding.encode_step`). The results come back in step order; the build appends each step to its
scratch files and commits a checkpoint, so a killed distributed build resumes from its last committed step, and the
scratch files hold the same bytes as a local build's.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

from index.docstore import DocumentStore
from index.errors import SettingError
from retrieval.build.encoding import ScratchWriter, encode_step
from retrieval.build.progress import BuildProgress
from retrieval.components import recipe_for
from retrieval.config import BuildConfig

logger = logging.getLogger(__name__)


class EncoderActor:
    """One Ray actor of the encoding pool: the build's encoders and a read-only handle on the staged store."""

    def __init__(self, store_path: str, config: dict[str, Any], names: list[str]) -> None:
        self.config = BuildConfig(**config)
        self.encoders = {name: recipe_for(name).load_encoder(self.config, None) for name in names}
        self.store = DocumentStore.open(Path(store_path))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = []
        for after, count in zip(batch["after"], batch["count"]):
            rows, texts = next(self.store.iter_texts(int(count), after_row_id=int(after)))
            outputs.append(pickle.dumps(encode_step(self.encoders, self.config, np.asarray(rows), texts)))
        return {"step": batch["step"], "count": batch["count"], "output": np.array(outputs, dtype=object)}


def connect(address: str | None) -> None:
    """Join the Ray cluster at ``address`` (``auto``: the running one), start a local one when ``None``; nothing
    when this process is already connected."""
    try:
        import ray
    except ImportError:
        raise SettingError(
            "engine", "ray", "needs Ray, which is not installed: pip install 'modernsearch[ray]'"
        ) from None

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)


def encode_on_ray(
    store: DocumentStore,
    encoders: dict[str, Any],
    config: BuildConfig,
    work: BuildProgress,
    staging: Path,
    progress: bool,
) -> None:
    """Encode every stored document not yet committed in ``work`` on a Ray actor pool into the scratch files."""
    import ray
    from tqdm.auto import tqdm

    connect(config.ray_address)
    work.resumed_from = work.encoded
    step = config.batch_size * 8  # the local pass's steps, so the scratch files hold the same bytes
    row_ids = store.row_ids()
    first, within = divmod(work.encoded, step)
    if within:  # only a local pass commits inside a step, and a local build's staged work has another resume key
        raise RuntimeError(
            f"the staged build stopped inside a step ({work.encoded} documents); rebuild with resume off"
        )
    steps = [
        {"step": i, "after": int(row_ids[i * step - 1]) if i else 0, "count": len(row_ids[i * step : (i + 1) * step])}
        for i in range(first, -(-len(row_ids) // step))
    ]
    if not steps:
        return
    names = list(encoders)
    cpus = ray.cluster_resources().get("CPU", 1)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # steps are committed in order
    context.enable_progress_bars = False  # the build's own bar counts documents
    pool = ray.data.from_items(steps).map_batches(
        EncoderActor,
        batch_size=1,
        concurrency=config.encode_workers,
        num_gpus=config.gpus_per_worker or None,
        num_cpus=1 if config.gpus_per_worker else max(1, int(cpus // config.encode_workers)),
        fn_constructor_kwargs={"store_path": str(store.path), "config": dataclasses.asdict(config), "names": names},
    )
    scratch = ScratchWriter(staging, [name for kind in names for name in recipe_for(kind).scratch_files], work)
    counts = {name: dict(work.long_documents.get(name, {"chunked": 0, "truncated": 0, "chunks": 0})) for name in names}
    try:
        with tqdm(
            total=work.documents,
            initial=work.encoded,
            desc="Encoding (Ray)",
            unit=" doc",
            disable=not progress,
            smoothing=0.1,
        ) as bar:
            last = time.perf_counter()
            for done in pool.iter_rows():
                output = pickle.loads(done["output"])
                for name, data in output.files.items():
                    scratch.files[name].write(data)
                for name, found in output.long_documents.items():
                    for key, n in found.items():
                        counts[name][key] = counts[name].get(key, 0) + n
                work.encoded += int(done["count"])
                now = time.perf_counter()
                work.encode_seconds += now - last  # wall time: the workers encode at once
                last = now
                work.long_documents, work.partial = counts, {}
                scratch.commit()
                bar.update(int(done["count"]))
    finally:
        scratch.close()
