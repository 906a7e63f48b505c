"""The Dask client a distributed study runs on: a cluster started here, an address, or the caller's client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from distributed import Client, LocalCluster

from eventstudy.errors import ClusterError, InputError

LOCAL = "local"
CONNECT_TIMEOUT = "20s"


def check_scheduler(scheduler: str | Client) -> None:
    """Refuse anything but ``"local"``, an address ``PROTOCOL://HOST:PORT`` or a client, before any work starts."""
    if isinstance(scheduler, Client) or scheduler == LOCAL:
        return
    if not isinstance(scheduler, str) or "://" not in scheduler:
        raise InputError(f"--scheduler {scheduler!r}: use 'local' or a scheduler address such as tcp://10.0.0.5:8786")


@contextmanager
def dask_client(scheduler: str | Client = LOCAL) -> Iterator[Client]:
    """Yield a client for ``scheduler`` and close what this call opened.

    Parameters
    ----------
    scheduler
        ``"local"``: a ``distributed.LocalCluster`` on this machine (one single-threaded worker process per core,
        on 127.0.0.1, no dashboard), shut down afterwards. ``"tcp://HOST:PORT"`` (or ``tls://``): the scheduler of
        a running cluster (``dask scheduler`` / ``dask worker``); the cluster is left running. A
        ``distributed.Client``: used as it is and left open.

    Raises
    ------
    InputError
        When ``scheduler`` is neither ``"local"`` nor an address.
    ClusterError
        When the scheduler cannot be reached within 20 s.
    """
    check_scheduler(scheduler)
    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler == LOCAL:
        with (
            LocalCluster(
                processes=True,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # health routes: any free port
                silence_logs=logging.CRITICAL,  # task errors reach the user once, as the run's error
            ) as cluster,
            Client(cluster, set_as_default=False) as client,
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {scheduler} ({exc}): start it with `dask scheduler` and workers "
            "with `dask worker ADDRESS`, or use --scheduler local"
        ) from None
    with client:
        yield client
