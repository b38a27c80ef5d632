"""Where Ray runs for a run, and who owns it.

In this order: the address given (`ray_address` / `address=`), else `RAY_ADDRESS`, else the Ray
already initialised in this process, else a local instance started for the run and stopped after
it. quant stops only a Ray it started: joining a cluster or reusing the caller's Ray leaves it
running.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ray

from quant_core.errors import ParamValidationError

from quant_compute_ray.errors import RayClusterError

RAY_ADDRESS_ENV = "RAY_ADDRESS"
AUTH_MODE_ENV = "RAY_AUTH_MODE"
#: Addresses that ask Ray to start a new local instance rather than join one.
LOCAL_ADDRESSES = ("local",)

AUTH_HINT = (
    "Ray 2.60 turns token authentication on by default: the head and this client must agree. "
    "Either RAY_AUTH_MODE=token on both, with the same token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH "
    "or ~/.ray/auth_token, e.g. copied from the head), or RAY_AUTH_MODE=disabled on both"
)


@dataclass(frozen=True)
class RayConnection:
    """The Ray this process is connected to for a run (or for a `with RayComputeEngine()` block)."""

    address: str
    ray_version: str
    #: True when quant started this Ray instance: then, and only then, quant stops it.
    started: bool

    def describe(self) -> dict[str, Any]:
        """What a run's manifest records of it (`engine`)."""
        return {"address": self.address, "ray_version": self.ray_version, "started_for_run": self.started}


def target_address(address: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The cluster to join: the address given, else `RAY_ADDRESS`; None for "no particular one"."""
    environ = os.environ if environ is None else environ
    return address or environ.get(RAY_ADDRESS_ENV) or None


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> RayConnection:
    """Connect this process to Ray (see the module's docstring for which one)."""
    if num_cpus is not None and num_cpus < 1:
        raise ParamValidationError(
            f"executor ray: num_cpus={num_cpus} must be at least 1", param="num_cpus", value=num_cpus, rule="minimum"
        )
    target = target_address(address, environ)
    if ray.is_initialized():
        return _reuse(target, num_cpus)
    if target is None or target in LOCAL_ADDRESSES:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        return RayConnection(_current_address(), ray.__version__, started=True)
    if num_cpus is not None:
        raise ParamValidationError(
            f"executor ray: num_cpus={num_cpus} sizes a local Ray started for the run; the cluster at "
            f"{target} has its own CPUs (leave num_cpus out)",
            param="num_cpus", value=num_cpus, rule="local-only",
        )
    return _join(target)


def disconnect(connection: RayConnection) -> None:
    """Stop Ray if, and only if, `connect` started it."""
    if connection.started and ray.is_initialized():
        ray.shutdown()


def _reuse(target: str | None, num_cpus: int | None) -> RayConnection:
    current = _current_address()
    if target is not None and not _same_cluster(target, current):
        raise RayClusterError(
            f"Ray is already initialised in this process, connected to {current}; it cannot also join "
            f"{target} (give no address to use the Ray this process holds, or run in a new process)",
            address=target,
        )
    if num_cpus is not None:
        raise ParamValidationError(
            f"executor ray: num_cpus={num_cpus} sizes a local Ray started for the run, but this process "
            f"already holds a Ray ({current}): leave num_cpus out",
            param="num_cpus", value=num_cpus, rule="local-only",
        )
    return RayConnection(current, ray.__version__, started=False)


def _join(target: str) -> RayConnection:
    _agree_on_authentication()
    try:
        ray.init(address=target, log_to_driver=False)
    except ConnectionError as exc:
        mode = os.environ.get(AUTH_MODE_ENV, "unset")
        raise RayClusterError(
            f"could not connect to the Ray cluster at {target} ({' '.join(str(exc).split())}). Check the "
            f"address, then authentication: {AUTH_HINT} (this client: RAY_AUTH_MODE={mode})",
            address=target,
        ) from exc
    return RayConnection(_current_address(), ray.__version__, started=False)


def _agree_on_authentication() -> None:
    """Apply to a named cluster the rule Ray applies to one it finds by itself (`address="auto"`):
    with RAY_AUTH_MODE unset and a token available here, authenticate with it.

    Ray 2.60 leaves token authentication off for a client given an explicit address, while a head
    started on a machine that holds a token (`~/.ray/auth_token`, written by any local `ray.init`)
    turns it on: the connection then fails after about 20 s. A token sent to a head without
    authentication is ignored, so sending it when one is available is safe both ways. An explicit
    RAY_AUTH_MODE is always respected."""
    if AUTH_MODE_ENV in os.environ:
        return
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token authentication: nothing to agree on
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _current_address() -> str:
    return ray.get_runtime_context().gcs_address


def _same_cluster(given: str, current: str) -> bool:
    """Whether `given` names the cluster at `current` (a GCS `host:port`): the same text, or the
    same port on this machine under another of its names (Ray reports 127.0.0.1 as the host's IP)."""
    if given in ("auto", current):
        return True
    given_host, _, given_port = given.rpartition(":")
    current_host, _, current_port = current.rpartition(":")
    return given_port == current_port and _is_this_host(given_host) and _is_this_host(current_host)


def _is_this_host(host: str) -> bool:
    if host in ("localhost", "::1") or host.startswith("127."):
        return True
    return host in (ray.util.get_node_ip_address(), socket.gethostname())
