"""The search service on Ray Serve (``modernsearch serve DIR --engine ray``): one deployment per shard, and a router.

Each shard of a sharded index is a deployment of its own (``--replicas`` replicas) that opens the shard folder and
answers its store's and components' calls. The router deployment is the same FastAPI application as
``modernsearch serve`` (Serve's ingress); it loads the query encoders, encodes each query once, and searches a
:class:`~retrieval.search.searcher.Searcher` whose store and components are proxies calling the shard deployments (see
:mod:`index.sharding`: every stage merges over the shards as it does in one process, so the answers are the same).
A shard that does not answer within ``--shard-timeout`` is left out and the answer says so (``"partial": true,
"missing_shards": [...]``) or the request fails with 503, per ``--on-shard-failure``. An index that is not sharded
is searched inside the router.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from index.component import SearchingInParts, component_type, forwarded_calls, has_ability
from index.format import read_manifest, version_stamp
from index.sharding import ShardUnavailableError, open_shards

logger = logging.getLogger(__name__)
OnShardFailure = Literal["partial", "fail"]
STORE_READS = frozenset(  # what the router may call on a shard's store: reads only (never written through a replica)
    {"get", "row_id", "row_ids", "matching", "metadata_types", "metadata_values", "metadata_stats", "chunk_spans"}
)


class ShardServer:
    """A shard deployment's replica: the shard folder opened at its committed version (reopened after a commit), its
    store and components answering calls by name."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.stamp = version_stamp(self.folder)
        self.opened = _open_folder(self.folder)

    def call(self, target: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)`` of the store (``store``), a component (its name) or a component's index
        (``NAME.index``: the multi-vector search stages)."""
        self._follow_commits()
        name, _, inner = target.partition(".")
        if method not in _reads(name, inner):
            raise ValueError(f"a shard answers reads only; {target}.{method} is not one")
        found = self.opened.store if name == "store" else self.opened.components[name]
        return getattr(getattr(found, inner) if inner else found, method)(*args, **kwargs)

    def describe(self) -> dict[str, Any]:
        """What the router keeps about the shard: its components, and the multi-vector search's shared facts."""
        self._follow_commits()
        components = self.opened.components
        staged = {name: c.stage_facts() for name, c in components.items() if _in_parts(name)}
        return {"components": list(components), "stages": staged}

    def _follow_commits(self) -> None:
        stamp = version_stamp(self.folder)
        if stamp != self.stamp:
            previous, self.opened, self.stamp = self.opened, _open_folder(self.folder), stamp
            previous.close()


def _in_parts(name: str) -> bool:
    return has_ability(component_type(name), SearchingInParts)


def _reads(name: str, inner: str) -> frozenset[str]:
    """The calls a shard answers on a target: the store's reads, a component's forwarded calls, or the calls of the
    stages (``NAME.index``) of a component that searches in parts."""
    if name == "store":
        return STORE_READS
    kind = component_type(name)
    if not inner:
        return forwarded_calls(kind)
    return kind.stage_calls if inner == "index" and _in_parts(name) else frozenset()


def _open_folder(folder: Path) -> Any:
    from retrieval.search.opening import open_committed

    return open_committed(folder)


class _Remote:
    """Calls to one target of a shard deployment, each waiting at most ``timeout`` seconds."""

    def __init__(
        self, handle: Any, shard: str, target: str, timeout: float, facts: dict[str, Any] | None = None
    ) -> None:
        self._handle, self._shard, self._target, self._timeout = handle, shard, target, timeout
        for key, value in (facts or {}).items():
            setattr(self, key, value)

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: _answer(
            self._handle.call.remote(self._target, method, *args, **kwargs), self._shard, self._timeout
        )


def _answer(response: Any, shard: str, timeout: float) -> Any:
    """A shard deployment's answer, or :class:`ShardUnavailableError` when it is late or its replica is gone (an
    error raised by the shard's own code is raised as it is)."""
    import ray.exceptions

    try:
        return response.result(timeout_s=timeout)
    except ray.exceptions.RayTaskError as err:
        raise err.as_instanceof_cause() from None
    except (TimeoutError, ray.exceptions.RayError) as err:
        raise ShardUnavailableError(shard, f"no answer within {timeout:g} s ({type(err).__name__})") from err


class _RemoteStages(_Remote):
    """A shard's search stages (of a component that searches in parts). Its document count comes with the facts the
    router keeps (the router reopens the index, and so asks again, when a commit changes it), which saves a sharded
    search one round trip of five; a count of filtered documents is still asked for."""

    documents: int

    def count(self, allowed: Any) -> int:
        if allowed is None:
            return self.documents
        return _answer(self._handle.call.remote(self._target, "count", allowed), self._shard, self._timeout)


class _RemoteShard:
    """A shard served by a deployment, seen as an open index folder (``store``, ``components``)."""

    def __init__(self, handle: Any, shard: str, timeout: float) -> None:
        facts = _answer(handle.describe.remote(), shard, timeout)
        self.store = _Remote(handle, shard, "store", timeout)
        self.store.close = lambda: None  # the deployment keeps its store open
        self.components = {name: _Remote(handle, shard, name, timeout) for name in facts["components"]}
        for name, stage_facts in facts["stages"].items():
            self.components[name].index = _RemoteStages(handle, shard, f"{name}.index", timeout, stage_facts)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class ShardPolicy:
    """How the router waits for shards: seconds per call, and what a missing shard does to an answer."""

    timeout: float = 10.0
    on_failure: OnShardFailure = "partial"


class Router:
    """The router deployment: the service's FastAPI application over the indexes, sharded ones searched through their
    shard deployments (``shards``: index name -> one handle per shard, in shard order)."""

    def __init__(
        self,
        folders: dict[str, str],
        shards: dict[str, list[Any]],
        policy: ShardPolicy,
        api_key: str | None,
        cors_origins: tuple[str, ...] = (),
        debug: bool = False,
    ) -> None:
        self.folders = {name: Path(folder) for name, folder in folders.items()}
        self.shards, self.policy, self.api_key, self.cors_origins, self.debug = (
            shards,
            policy,
            api_key,
            cors_origins,
            debug,
        )

    def __serve_build_asgi_app__(self) -> Any:
        from app.service.api import create_app
        from app.service.indexes import ServedIndexes

        names = {folder.resolve(): name for name, folder in self.folders.items()}
        return create_app(
            ServedIndexes(
                self.folders, opener=lambda folder, encoders: self._open(names[folder.resolve()], folder, encoders)
            ),
            api_key=self.api_key,
            cors_origins=self.cors_origins,
            debug=self.debug,
        )

    def _open(self, name: str, folder: Path, encoders: dict[str, Any]) -> Any:
        from retrieval.search.opening import OpenIndex
        from retrieval.search.searcher import Searcher

        manifest = read_manifest(folder)
        if not manifest.shards:
            return Searcher.load(folder, encoders=encoders)
        handles = dict(zip(manifest.shards, self.shards[name]))
        store, components = open_shards(
            list(manifest.shards),
            lambda shard: _RemoteShard(handles[shard], shard, self.policy.timeout),
            tolerate_missing=self.policy.on_failure == "partial",
        )
        return Searcher(OpenIndex(folder, manifest, store, components), encoders)


def application(
    folders: dict[str, Path],
    *,
    replicas: int = 1,
    cpus_per_replica: float = 1.0,
    policy: ShardPolicy = ShardPolicy(),
    api_key: str | None = None,
    cors_origins: tuple[str, ...] = (),
    debug: bool = False,
) -> Any:
    """The Serve application: a deployment per shard of every sharded index (``replicas`` each) and the router, each
    replica reserving ``cpus_per_replica`` of the cluster's CPUs."""
    from ray import serve

    resources = {"num_cpus": cpus_per_replica}
    shard_deployment = serve.deployment(ShardServer)
    shards: dict[str, list[Any]] = {}
    for name, folder in folders.items():
        manifest = read_manifest(folder)
        shards[name] = [
            shard_deployment.options(name=f"{name}-{shard}", num_replicas=replicas, ray_actor_options=resources).bind(
                str(Path(folder).resolve() / shard)
            )
            for shard in manifest.shards
        ]
    router = serve.deployment(serve.ingress()(Router)).options(name="router", ray_actor_options=resources)
    return router.bind(
        {name: str(Path(folder).resolve()) for name, folder in folders.items()},
        shards,
        policy,
        api_key,
        cors_origins,
        debug,
    )


def build_app(args: dict[str, Any]) -> Any:
    """The application from a Serve config file's ``args`` (``serve run``, a KubeRay RayService): ``indexes`` (name ->
    folder), and optionally ``replicas``, ``cpus_per_replica``, ``shard_timeout``, ``on_shard_failure`` and
    ``api_key_env`` (the environment variable holding the key that writes need)."""
    unknown = set(args) - {
        "indexes",
        "replicas",
        "cpus_per_replica",
        "shard_timeout",
        "on_shard_failure",
        "api_key_env",
    }
    if unknown or not isinstance(args.get("indexes"), dict) or not args["indexes"]:
        raise ValueError(
            f"args need 'indexes' (name -> index folder){'; unknown: ' + ', '.join(sorted(unknown)) if unknown else ''}"
        )
    policy = ShardPolicy(
        float(args.get("shard_timeout", ShardPolicy.timeout)), args.get("on_shard_failure", ShardPolicy.on_failure)
    )
    if policy.on_failure not in ("partial", "fail"):
        raise ValueError(f"on_shard_failure must be partial or fail, not {policy.on_failure!r}")
    key_env = args.get("api_key_env")
    return application(
        {name: Path(folder) for name, folder in args["indexes"].items()},
        replicas=int(args.get("replicas", 1)),
        cpus_per_replica=float(args.get("cpus_per_replica", 1.0)),
        policy=policy,
        api_key=os.environ.get(key_env) if key_env else None,
    )


def start(
    folders: dict[str, Path],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    address: str | None = None,
    blocking: bool = False,
    **settings: Any,
) -> None:
    """Deploy :func:`application` on the Ray cluster at ``address`` (a local one when ``None``), its HTTP proxy on
    ``host:port``; with ``blocking``, serve until interrupted."""
    from retrieval.build.ray_encoding import connect

    connect(address)
    from ray import serve

    serve.start(http_options={"host": host, "port": port})
    serve.run(application(folders, **settings), name="modernsearch", route_prefix="/", blocking=blocking)
