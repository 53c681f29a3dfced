"""Where the model runs: in this process, or on dask.distributed workers, by chunks of cells.

Cells are independent, so the run splits them into contiguous chunks and runs every chunk
with the same jit-compiled model. The workflow drives both executors through one small
interface and never looks at where a chunk lives:

* `split(tree, axis)`: per-chunk pieces of arrays with cells on `axis` (a *handle* per chunk);
* `share(x)`: a value every chunk needs (parameters of the run, the model configuration);
* `map(fn, *args)`: `fn` on every chunk; an argument that is a per-chunk list gives each call
  its own piece, any other argument is passed to every call; returns handles;
* `pick(handles, i)`: element `i` of tuple results, left where they are;
* `gather(handles, axis)`: the chunks' results joined along the cell axis, on this process.

Locally a handle is the value itself, and with a single chunk (the default) `split` and
`gather` pass values through untouched, so the in-process run is the plain vectorised run.
With `threads` > 1 the in-process chunks (one per thread unless `chunk_cells` says otherwise)
run side by side: XLA runs a chunk's year on one core.
With dask a handle is a future pinned to the worker that owns the chunk: a chunk's state,
forcing and parameters stay on one worker and only the small state and the outputs move.
XLA on CPU gives elementwise-identical results for any split of the cells (checked for CASA
and MIMICS, C+N), so forward runs do not depend on the chunking; the steady-state solver
takes its stopping decisions per chunk, so its result depends on the chunks (not on where
they run): give `compute.chunk_cells` to reproduce a distributed solver run in one process.
"""

from __future__ import annotations

import operator
import os
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np

from .errors import ConfigError

try:
    from distributed import WorkerPlugin
except ImportError:      # dask is optional; DaskExecutor says how to install it
    WorkerPlugin = object


def chunk_bounds(n: int, nchunks: int) -> list[tuple[int, int]]:
    """`nchunks` contiguous, nearly equal ranges covering 0..n."""
    nchunks = max(1, min(nchunks, n))
    edges = np.linspace(0, n, nchunks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _take(tree, a: int, b: int, axis: int):
    return jax.tree.map(lambda x: x[(slice(None),) * (np.ndim(x) + axis if axis < 0 else axis) + (slice(a, b),)],
                        tree)


def _join(parts: list, axis: int):
    return jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs], axis=axis), *parts)


class LocalExecutor:
    """Chunks run in this process: one after the other, or side by side in `threads` threads.
    XLA runs a year on one core, so threads use the others (2-core machine, the world's year
    in two halves side by side against whole: CASA-CN 0.45 s against 0.63-0.72 s, MIMICS-C
    0.75-0.79 s against 1.53-1.60 s). The results are those of the same chunks one after
    the other."""

    workers = 0
    _pool = None

    def __init__(self, n: int, chunk_cells: int = 0, threads: int = 1):
        self.bounds = chunk_bounds(n, -(-n // chunk_cells) if chunk_cells else max(threads, 1))
        if threads > 1 and self.nchunks > 1:
            self._pool = ThreadPoolExecutor(threads, thread_name_prefix="bgctestbed-chunk")

    @property
    def nchunks(self) -> int:
        return len(self.bounds)

    def split(self, tree, axis: int = 0) -> list:
        if self.nchunks == 1:
            return [tree]
        return [_take(tree, a, b, axis) for a, b in self.bounds]

    def share(self, x):
        return x

    def map(self, fn, *args) -> list:
        calls = [[a[i] if isinstance(a, list) else a for a in args] for i in range(self.nchunks)]
        if self._pool is None:
            return [fn(*c) for c in calls]
        return list(self._pool.map(lambda c: fn(*c), calls))

    def pick(self, handles: list, i: int) -> list:
        return [h[i] for h in handles]

    def collect(self, handles: list) -> list:
        """The chunks' results, as a list."""
        return handles

    def forcing(self, source, y: int) -> list:
        """Host forcing of year `y` for every chunk (made once here and cut)."""
        return self.split(source.year(y), axis=-1)

    def gather(self, handles: list, axis: int = 0):
        if self.nchunks == 1:
            return handles[0]
        return _join(handles, axis)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


class DaskExecutor(LocalExecutor):
    """Chunks on dask.distributed workers: a `LocalCluster` of `workers` processes (one thread
    each: the model is already vectorised over cells), or the cluster at `scheduler`."""

    def __init__(self, n: int, chunk_cells: int = 0, *, workers: int = 0, scheduler: str = ""):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("distributed runs need dask: pip install 'dask[distributed]'") from None
        self.cluster, self._source = None, None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
        else:
            # workers start with this process's environment: the same JAX platform and x64
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=40)
            self.client = Client(self.cluster)
        # float64 on every worker (present and future) before it unpickles any array
        self.client.register_plugin(_Float64())
        # a local cluster's workers may still be registering when it returns (a loaded
        # machine: "no workers" once in a test suite run)
        try:
            self.client.wait_for_workers(workers if self.cluster else 1, timeout=120 if self.cluster else 30)
        except TimeoutError:
            pass
        self.addresses = sorted(self.client.scheduler_info()["workers"])
        if not self.addresses:
            self.close()
            where = f"at {scheduler}" if scheduler else f"started here ({workers} workers asked for)"
            raise ConfigError(f"the dask cluster {where} has no workers")
        self.workers = len(self.addresses)
        self.bounds = chunk_bounds(n, -(-n // chunk_cells) if chunk_cells else self.workers)
        self.owner = [self.addresses[i % self.workers] for i in range(self.nchunks)]

    def split(self, tree, axis: int = 0) -> list:
        tree = jax.tree.map(np.asarray, tree)     # plain arrays travel, the worker's JAX takes them
        # (scatter takes a dict or tuple apart: each is wrapped in a list to travel whole)
        return [self.client.scatter([_take(tree, a, b, axis)], workers=[w], hash=False)[0]
                for (a, b), w in zip(self.bounds, self.owner)]

    def share(self, x):
        # one copy per worker, so every task on a worker sees the same object (a model
        # configuration hashes by identity: a fresh copy per task would recompile the model)
        return self.client.scatter([x], broadcast=True, hash=False)[0]

    def map(self, fn, *args) -> list:
        return [self.client.submit(fn, *(a[i] if isinstance(a, list) else a for a in args),
                                   workers=[w], allow_other_workers=False, pure=False)
                for i, w in enumerate(self.owner)]

    def pick(self, handles: list, i: int) -> list:
        return self.map(operator.getitem, handles, i)

    def collect(self, handles: list) -> list:
        return self.client.gather(handles)

    def gather(self, handles: list, axis: int = 0):
        return _join(self.collect(handles), axis)

    def forcing(self, source, y: int) -> list:
        """Each worker makes the forcing of its own chunks, so none passes through here."""
        if self._source is None or self._source[0] is not source:
            self._source = (source, self.share(source))
        return self.map(_chunk_forcing, self._source[1], y, [slice(a, b) for a, b in self.bounds])

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


class _Float64(WorkerPlugin):
    """Worker plugin: the model's float64 setting (made when `bgctestbed.model` is imported)."""

    name = "bgctestbed-float64"

    def setup(self, worker):
        import bgctestbed.model  # noqa: F401


def _chunk_forcing(source, y: int, cells: slice) -> dict:
    return source.year(y, cells)


def make_executor(n: int, compute: dict) -> LocalExecutor:
    if compute["workers"] or compute["scheduler"]:
        return DaskExecutor(n, compute["chunk_cells"], workers=compute["workers"],
                            scheduler=compute["scheduler"])
    return LocalExecutor(n, compute["chunk_cells"], compute["threads"])


def select_device(kind: str) -> None:
    """Make JAX run on `kind` ("cpu" or "gpu"; "" leaves JAX's own choice). Must come before
    JAX creates its first array; dask workers started afterwards inherit the choice."""
    if kind == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
        jax.config.update("jax_platforms", "cpu")
        if jax.default_backend() != "cpu":
            raise ConfigError("--device cpu: JAX already runs on another device in this process")
    elif kind == "gpu":
        # JAX prefers a GPU when it finds one: asking is enough, and workers do the same
        try:
            jax.devices("gpu")
        except RuntimeError:
            raise ConfigError(f"--device gpu: JAX finds no GPU (platforms present: "
                              f"{', '.join(sorted({d.platform for d in jax.devices()}))}); install the "
                              "CUDA build with: pip install -U 'jax[cuda12]'") from None
        if jax.default_backend() != "gpu":
            raise ConfigError("--device gpu: JAX already runs on the CPU in this process")
