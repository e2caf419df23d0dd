"""TLS and mutual TLS from PEM files, reloadable while serving.

``ServerCertificates`` reads ``--tls-cert``, ``--tls-key`` and (mutual TLS)
``--tls-client-ca`` and checks them with the ``ssl`` module before gRPC sees them:
an unreadable file, a file that is not PEM, or a key that does not match the
certificate is a ``TlsError`` naming the file, not an opaque handshake failure
later. ``credentials()`` gives the server credentials of the listening port; they
ask ``ServerCertificates`` for news at every TLS handshake (gRPC's certificate
config fetcher), so after ``reload()`` (SIGHUP) new connections get the new files
while connections already open, and their streams, carry on with the old ones.
A reload that fails keeps what is served and says why.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import grpc

log = logging.getLogger("modelreg_server.tls")


class TlsError(RuntimeError):
    """A certificate, key or CA file that cannot be served; the message names it."""


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None


@dataclass(frozen=True)
class _Loaded:
    cert: bytes
    key: bytes
    client_ca: bytes | None


def _read(path: Path, option: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TlsError(f"{option} {path}: cannot read it: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise TlsError(f"{option} {path}: not a PEM file")
    return data


def _no_password() -> NoReturn:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    raise TlsError("encrypted private keys are not supported")


def _check(files: TlsFiles, loaded: _Loaded) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(files.cert, files.key, password=_no_password)
    except TlsError as exc:
        raise TlsError(f"--tls-key {files.key}: {exc}") from None
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(
            f"--tls-cert {files.cert} and --tls-key {files.key}: not a certificate chain "
            f"and its matching private key ({exc})"
        ) from None
    if files.client_ca is not None and loaded.client_ca is not None:
        try:
            context.load_verify_locations(cadata=loaded.client_ca.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as exc:
            raise TlsError(
                f"--tls-client-ca {files.client_ca}: not PEM CA certificates ({exc})"
            ) from None


def load(files: TlsFiles) -> _Loaded:
    """Read and check the files; ``TlsError`` names the one at fault."""
    loaded = _Loaded(
        cert=_read(files.cert, "--tls-cert"),
        key=_read(files.key, "--tls-key"),
        client_ca=None if files.client_ca is None else _read(files.client_ca, "--tls-client-ca"),
    )
    _check(files, loaded)
    return loaded


def _configuration(loaded: _Loaded) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(loaded.key, loaded.cert)], root_certificates=loaded.client_ca
    )


class ServerCertificates:
    """What the TLS port serves, and the way to change it while serving."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self._initial = _configuration(load(files))
        self._lock = threading.Lock()
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self.reloads = 0

    def credentials(self) -> grpc.ServerCredentials:
        """Credentials for ``server.add_secure_port``; one port per instance (a new
        configuration is handed to the first handshake after a reload)."""
        return grpc.dynamic_ssl_server_credentials(
            self._initial,
            self._fetch,
            require_client_authentication=self.files.mutual,
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by gRPC before every TLS handshake, on one of its threads: cheap when
        # nothing changed (None keeps the current configuration).
        with self._lock:
            pending, self._pending = self._pending, None
        return pending

    def reload(self) -> bool:
        """Read the files again; new handshakes use them. A failure is logged and
        what is served stays as it was. Returns whether the files were taken."""
        try:
            configuration = _configuration(load(self.files))
        except TlsError as exc:
            log.error("TLS reload failed, still serving the previous certificate: %s", exc)
            return False
        with self._lock:
            self._pending = configuration
            self.reloads += 1
        log.info(
            "TLS certificate reloaded from %s%s",
            self.files.cert,
            f" (client CA {self.files.client_ca})" if self.files.mutual else "",
        )
        return True


def from_settings(
    cert: Path | None, key: Path | None, client_ca: Path | None
) -> ServerCertificates | None:
    """The server's certificates, or None when it serves plaintext."""
    if cert is None or key is None:
        return None
    return ServerCertificates(TlsFiles(cert, key, client_ca))
