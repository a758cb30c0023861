"""Executors: run independent tasks locally (process pool) or on Dask.

A task is ``(fn, kwargs)`` where ``fn`` is an importable module-level function and the
kwargs are JSON-safe; each task writes its own run directory, so results travel through
the filesystem. ``Executor.map_unordered`` yields ``(index, result_or_exception)`` as tasks
finish. The Dask executor imports ``dask.distributed`` only when constructed
(``pip install implicitbias[cluster]``); the core never imports it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Protocol

from implicitbias.config import bounded
from implicitbias.errors import UserInputError

__all__ = ["Executor", "InlineExecutor", "LocalExecutor", "DaskExecutor", "ClusterConfig", "make_executor"]

Task = tuple[Callable[..., Any], dict[str, Any]]


class Executor(Protocol):
    """Runs tasks and yields ``(index, result | BaseException)`` as they complete."""

    def map_unordered(self, tasks: Sequence[Task]) -> Iterator[tuple[int, Any]]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs tasks one after another in this process (progress bars work)."""

    def map_unordered(self, tasks: Sequence[Task]) -> Iterator[tuple[int, Any]]:
        for i, (fn, kw) in enumerate(tasks):
            try:
                yield i, fn(**kw)
            except Exception as e:  # noqa: BLE001 - reported per task
                yield i, e

    def close(self) -> None:
        return None


def _limit_threads(n: int) -> None:
    """Worker initializer: ``n`` intra-op threads, so workers do not oversubscribe cores."""
    import torch

    torch.set_num_threads(n)


class LocalExecutor:
    """A process pool of ``workers`` processes (spawned, so torch state is not forked).

    Each worker gets ``max(1, cpu_count // workers)`` torch threads.
    """

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise UserInputError("--workers must be at least 1")
        threads = max(1, (os.cpu_count() or 1) // workers)
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=mp.get_context("spawn"),
            initializer=_limit_threads, initargs=(threads,),
        )

    def map_unordered(self, tasks: Sequence[Task]) -> Iterator[tuple[int, Any]]:
        futures = {self._pool.submit(fn, **kw): i for i, (fn, kw) in enumerate(tasks)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                yield i, fut.result()
            except Exception as e:  # noqa: BLE001 - includes BrokenProcessPool
                yield i, e

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class ClusterConfig:
    """SLURM cluster settings for ``--dask-cluster slurm`` (dask-jobqueue ``SLURMCluster``).

    Attributes:
        queue: SLURM partition.
        cores: cores per job; memory: memory per job (e.g. ``"8GB"``).
        walltime: per-job wall time ``HH:MM:SS``.
        jobs: number of jobs (workers) to request.
        account: optional account; job_extra: extra ``#SBATCH`` directives.
        local_directory: worker scratch directory (node-local disk).
    """

    queue: str = "regular"
    cores: int = bounded(4, ge=1, le=100_000)
    memory: str = "8GB"
    walltime: str = "01:00:00"
    jobs: int = bounded(4, ge=1, le=100_000)
    account: str | None = None
    job_extra: tuple[str, ...] = field(default_factory=tuple)
    local_directory: str | None = None


class DaskExecutor:
    """Dask ``distributed`` executor.

    Args:
        address: scheduler address (``tcp://HOST:PORT``); ``None`` starts a ``LocalCluster``.
        workers: workers of the local cluster (one thread each).
        cluster: ``"slurm"`` to start a dask-jobqueue ``SLURMCluster`` from ``cluster_config``.
        retries: how often Dask resubmits a task whose worker died.
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int = 2,
        cluster: str | None = None,
        cluster_config: ClusterConfig | None = None,
        retries: int = 2,
    ) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise UserInputError(
                "the dask executor needs the cluster extra: pip install 'implicitbias[cluster]'"
            ) from None
        self._cluster = None
        self.retries = retries
        if address:
            self.client = Client(address)
        elif cluster == "slurm":
            try:
                from dask_jobqueue import SLURMCluster
            except ImportError:
                raise UserInputError("--dask-cluster slurm needs dask-jobqueue (implicitbias[cluster])") from None
            cc = cluster_config or ClusterConfig()
            self._cluster = SLURMCluster(
                queue=cc.queue, cores=cc.cores, memory=cc.memory, walltime=cc.walltime,
                account=cc.account, job_extra_directives=list(cc.job_extra),
                local_directory=cc.local_directory,
            )
            self._cluster.scale(jobs=cc.jobs)
            self.client = Client(self._cluster)
        elif cluster is not None:
            raise UserInputError(f"unknown --dask-cluster {cluster!r} (supported: slurm)")
        else:
            self._cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None,
            )
            self.client = Client(self._cluster)

    def map_unordered(self, tasks: Sequence[Task]) -> Iterator[tuple[int, Any]]:
        from dask.distributed import as_completed as dask_completed

        futures = {}
        for i, (fn, kw) in enumerate(tasks):
            fut = self.client.submit(fn, **kw, pure=False, retries=self.retries, key=f"task-{i}-{uuid.uuid4().hex}")
            futures[fut] = i
        for fut in dask_completed(list(futures)):
            i = futures[fut]
            try:
                yield i, fut.result()
            except Exception as e:  # noqa: BLE001 - KilledWorker and task errors
                yield i, e

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss|inproc)://[^\s/:]+(:\d{1,5})?/?$")


def check_address(address: str) -> None:
    """Raise :class:`UserInputError` unless ``address`` looks like ``tcp://HOST:PORT``."""
    if not _ADDRESS.match(address):
        raise UserInputError(f"--dask-address {address!r} is not a scheduler address like tcp://HOST:PORT")


def make_executor(
    kind: str = "local",
    workers: int = 2,
    address: str | None = None,
    cluster: str | None = None,
    cluster_config: ClusterConfig | None = None,
) -> Executor:
    """``inline`` | ``local`` | ``dask`` executor from CLI options.

    Raises:
        UserInputError: unknown kind, ``workers < 1`` or a malformed ``address``.
    """
    if address is not None:
        check_address(address)
    if kind == "inline":
        return InlineExecutor()
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(address=address, workers=workers, cluster=cluster, cluster_config=cluster_config)
    raise UserInputError(f"unknown executor {kind!r} (use local or dask)")
