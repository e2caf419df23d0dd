# Generated from client/modelreg/_async/_client.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""Client: one channel, one call helper, and the families' methods on one flat surface."""

from __future__ import annotations

import os
from types import TracebackType

from modelreg._settings import (
    ACTOR_METADATA,
    DEFAULT_KEEPALIVE_S,
    RetryPolicy,
    check_actor,
    default_target,
    security,
)
from modelreg._sync._aliases import Aliases
from modelreg._sync._datasets import Datasets
from modelreg._sync._deployments import Deployments
from modelreg._sync._evaluations import Evaluations
from modelreg._sync._inference import Inference
from modelreg._sync._keys import Keys
from modelreg._sync._lineage import Lineage
from modelreg._sync._models import Models
from modelreg._sync._pipelines import Pipelines
from modelreg._sync._projects import Projects
from modelreg._sync._rpc import ACCESS, LINEAGE, PRODUCTION, REGISTRY, RPC, TRACKING
from modelreg._sync._runs import Runs
from modelreg._sync._versions import Versions
from modelreg._transport import open_channel
from modelreg.api.v1 import access_service_pb2_grpc as access_grpc
from modelreg.api.v1 import lineage_service_pb2_grpc as lineage_grpc
from modelreg.api.v1 import production_service_pb2_grpc as production_grpc
from modelreg.api.v1 import registry_service_pb2_grpc as rpc_grpc
from modelreg.api.v1 import tracking_service_pb2_grpc as tracking_grpc


class Client(
    Projects,
    Models,
    Versions,
    Aliases,
    Datasets,
    Runs,
    Evaluations,
    Deployments,
    Inference,
    Pipelines,
    Lineage,
    Keys,
):
    """A synchronous client of the modelreg server.

    Args:
        target: ``host:port`` of the server; defaults to ``$MODELREG_TARGET``, then
            ``127.0.0.1:50051``.
        timeout: default deadline of each call, in seconds.
        retry: how UNAVAILABLE and DEADLINE_EXCEEDED are retried (mutations keep
            their request_id); by default for up to 30 s, which outlasts a restart.
        keepalive_s: interval of HTTP/2 keepalive pings; a connection whose pings
            go unanswered (5 s, or the interval if shorter) is dropped and its calls
            retried on a new one.
        actor: who is calling, recorded as ``created_by`` and in alias history;
            defaults to the OS user name (a server with API keys records the key's
            owner instead).
        api_key: the API key sent as ``authorization: Bearer ...`` on every call;
            defaults to ``$MODELREG_API_KEY``.
        tls: use TLS with the system's root certificates (implied by the options
            below).
        tls_ca: path of a PEM CA bundle to verify the server with; defaults to
            ``$MODELREG_TLS_CA``.
        tls_cert: path of a PEM client certificate (mutual TLS), with ``tls_key``,
            the path of its private key; default ``$MODELREG_CLIENT_CERT`` and
            ``$MODELREG_CLIENT_KEY``.

    The files are read when the client is made: a missing or unreadable one, or a
    certificate without its key, raises ValueError naming the option.

    Every mutating method takes ``request_id``, its idempotency key (one is made
    per call if not given, and kept across retries): calling again with the id
    of a call that landed returns that call's result instead of applying it
    twice. Errors of mutations carry the id sent as ``err.request_id``.

    Use it as a context manager, or call :meth:`close`. One channel per client;
    the generated stubs are ``client.stub`` (RegistryService) and
    ``client.tracking_stub`` (TrackingService), ``client.production_stub``
    (ProductionService), ``client.lineage_stub`` (LineageService) and
    ``client.access_stub`` (AccessService) for calls the SDK does not wrap.

    Example:
        >>> with modelreg.Client() as client:
        ...     v = client.register_model_version(
        ...         "translate_kr2en", "translate_kr2en", artifact_uri="./model/v1.pth")
    """

    # The families share nothing but this helper; each adds its methods to the client.
    _rpc: RPC

    def __init__(
        self,
        target: str | None = None,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        actor: str | None = None,
        keepalive_s: float = DEFAULT_KEEPALIVE_S,
        api_key: str | None = None,
        tls: bool = False,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
    ) -> None:
        self.target = target or default_target()
        # What the inference loggers of this client connect with, too.
        self.security = security(
            api_key=api_key, tls=tls, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key
        )
        actor_metadata = ((ACTOR_METADATA, check_actor(actor)),)
        self._channel = open_channel(self.target, keepalive_s, self.security)
        self.stub = rpc_grpc.RegistryServiceStub(self._channel)
        self.tracking_stub = tracking_grpc.TrackingServiceStub(self._channel)
        self.production_stub = production_grpc.ProductionServiceStub(self._channel)
        self.lineage_stub = lineage_grpc.LineageServiceStub(self._channel)
        self.access_stub = access_grpc.AccessServiceStub(self._channel)
        self._rpc = RPC(
            {
                REGISTRY: self.stub,
                TRACKING: self.tracking_stub,
                PRODUCTION: self.production_stub,
                LINEAGE: self.lineage_stub,
                ACCESS: self.access_stub,
            },
            timeout=timeout,
            retry=retry or RetryPolicy(),
            metadata=(*actor_metadata, *self.security.metadata),
            read_metadata=self.security.metadata,
        )

    def close(self) -> None:
        self._rpc.flusher.close()
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
