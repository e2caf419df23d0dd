"""TLS and mutual TLS end to end, with certificates made here (trustme): who is
refused (plaintext, wrong CA, no or foreign or expired client certificate, expired
server certificate), who gets in (SDK and CLI), certificate rotation by SIGHUP with
a stream open across it, the API key's bearer header, and ``--insecure``'s warning.

Every server binds 127.0.0.1."""

from __future__ import annotations

import functools
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc

import modelreg
from modelreg import cli as cli_module
from modelreg._settings import Security
from modelreg.api.v1 import resources_pb2
from modelreg.cli import main as cli_main
from modelreg_server import app
from modelreg_server.config import Settings
from modelreg_server.health import WARNING_METADATA
from modelreg_server.testing import ServerThread
from modelreg_server.transport import tls
from tests.conftest import unique
from tests.support import ServerProcess

HOST = "127.0.0.1"
# Refusals are UNAVAILABLE (the handshake fails): retrying would only take longer.
NO_RETRY = modelreg.RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class Pem:
    cert: Path
    key: Path


class Pki:
    """Certificate authorities and leaf certificates as PEM files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()
        self.client_ca = trustme.CA()
        past = datetime.now(timezone.utc) - timedelta(days=30)
        self.ca_file = self.write_ca("ca", self.ca)
        self.other_ca_file = self.write_ca("other-ca", self.other_ca)
        self.client_ca_file = self.write_ca("client-ca", self.client_ca)
        self.server = self.leaf("server", self.ca.issue_cert(HOST))
        self.expired_server = self.leaf(
            "expired-server",
            self.ca.issue_cert(HOST, not_before=past - timedelta(days=1), not_after=past),
        )
        self.client = self.leaf("client", self.client_ca.issue_cert("client@example"))
        self.foreign_client = self.leaf("foreign", self.other_ca.issue_cert("client@example"))
        self.expired_client = self.leaf(
            "expired-client",
            self.client_ca.issue_cert(
                "client@example", not_before=past - timedelta(days=1), not_after=past
            ),
        )

    def write_ca(self, name: str, ca: trustme.CA) -> Path:
        path = self.root / f"{name}.pem"
        ca.cert_pem.write_to_path(str(path))
        return path

    def leaf(self, name: str, cert: trustme.LeafCert) -> Pem:
        pem = Pem(self.root / f"{name}.crt", self.root / f"{name}.key")
        pem.cert.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        pem.key.write_bytes(cert.private_key_pem.bytes())
        return pem


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def _serve(database_url: str, **settings: Any) -> ServerThread:
    return ServerThread(Settings(listen=f"{HOST}:0", database_url=database_url, **settings)).start()


@pytest.fixture(scope="module")
def tls_server(database_url: str, pki: Pki) -> Iterator[ServerThread]:
    server = _serve(database_url, tls_cert=pki.server.cert, tls_key=pki.server.key)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mtls_server(database_url: str, pki: Pki) -> Iterator[ServerThread]:
    server = _serve(
        database_url,
        tls_cert=pki.server.cert,
        tls_key=pki.server.key,
        tls_client_ca=pki.client_ca_file,
    )
    yield server
    server.stop()


def _refused(target: str, **options: Any) -> modelreg.ModelregError:
    client = modelreg.Client(target, timeout=5, retry=NO_RETRY, **options)
    with client, pytest.raises(modelreg.ModelregError) as caught:
        next(iter(client.list_projects()))
    return caught.value


def _works(target: str, **options: Any) -> None:
    with modelreg.Client(target, timeout=10, actor="tester", **options) as client:
        name = unique("tls")
        client.create_project(name)
        assert client.get_project(name).name == name


def _cli(target: str, *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli_main(["--target", target, "--timeout", "5", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# TLS


def test_the_right_ca_works_with_the_sdk_and_the_cli(
    tls_server: ServerThread,
    pki: Pki,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _works(tls_server.target, tls_ca=pki.ca_file)
    name = unique("cli")
    code, _, err = _cli(
        tls_server.target, "projects", "create", name, "--tls-ca", str(pki.ca_file), capsys=capsys
    )
    assert code == 0, err
    # No TLS option: plaintext, refused (without the CLI's 30 s of retries).
    monkeypatch.setattr(cli_module, "Client", functools.partial(modelreg.Client, retry=NO_RETRY))
    code, _, err = _cli(tls_server.target, "projects", "list", "--json", capsys=capsys)
    assert code == 1 and "UNAVAILABLE" in err


async def test_the_async_client_works_over_tls(tls_server: ServerThread, pki: Pki) -> None:
    async with modelreg.AsyncClient(tls_server.target, tls_ca=pki.ca_file) as client:
        name = unique("atls")
        await client.create_project(name)
        assert (await client.get_project(name)).name == name


def test_the_ca_from_the_environment(
    tls_server: ServerThread, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELREG_TLS_CA", str(pki.ca_file))
    _works(tls_server.target)


def test_a_plaintext_client_is_refused(tls_server: ServerThread) -> None:
    assert _refused(tls_server.target).code == grpc.StatusCode.UNAVAILABLE


def test_a_client_trusting_another_ca_is_refused(tls_server: ServerThread, pki: Pki) -> None:
    assert _refused(tls_server.target, tls_ca=pki.other_ca_file).code == grpc.StatusCode.UNAVAILABLE


def test_system_roots_do_not_trust_a_private_ca(tls_server: ServerThread) -> None:
    assert _refused(tls_server.target, tls=True).code == grpc.StatusCode.UNAVAILABLE


def test_an_expired_server_certificate_is_refused(database_url: str, pki: Pki) -> None:
    server = _serve(database_url, tls_cert=pki.expired_server.cert, tls_key=pki.expired_server.key)
    try:
        error = _refused(server.target, tls_ca=pki.ca_file)
        assert error.code == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()


# Mutual TLS


def test_mutual_tls_with_the_right_client_certificate_works(
    mtls_server: ServerThread, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    _works(mtls_server.target, tls_ca=pki.ca_file, tls_cert=pki.client.cert, tls_key=pki.client.key)
    code, _, err = _cli(
        mtls_server.target,
        "projects",
        "create",
        unique("mcli"),
        "--tls-ca",
        str(pki.ca_file),
        "--tls-cert",
        str(pki.client.cert),
        "--tls-key",
        str(pki.client.key),
        capsys=capsys,
    )
    assert code == 0, err


@pytest.mark.parametrize("which", ["none", "foreign", "expired"])
def test_mutual_tls_refuses_a_missing_foreign_or_expired_client_certificate(
    mtls_server: ServerThread, pki: Pki, which: str
) -> None:
    leaf = {"none": None, "foreign": pki.foreign_client, "expired": pki.expired_client}[which]
    files = {} if leaf is None else {"tls_cert": leaf.cert, "tls_key": leaf.key}
    error = _refused(mtls_server.target, tls_ca=pki.ca_file, **files)
    assert error.code == grpc.StatusCode.UNAVAILABLE


# Bad files


def test_bad_files_at_start_are_errors_naming_the_file(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(tls.TlsError, match=r"--tls-cert .*nope\.pem.*cannot read"):
        tls.ServerCertificates(tls.TlsFiles(missing, pki.server.key))
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key\n")
    with pytest.raises(tls.TlsError, match=r"--tls-key .*garbage\.key.*not a PEM file"):
        tls.ServerCertificates(tls.TlsFiles(pki.server.cert, garbage))
    with pytest.raises(tls.TlsError, match=r"client\.key.*matching private key"):
        tls.ServerCertificates(tls.TlsFiles(pki.server.cert, pki.client.key))
    with pytest.raises(tls.TlsError, match=r"--tls-client-ca .*garbage\.key"):
        tls.ServerCertificates(tls.TlsFiles(pki.server.cert, pki.server.key, garbage))


def test_modelreg_serve_refuses_to_start_with_a_missing_file(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "gone.crt"
    # The files are checked before the database is opened: this URL is never dialled.
    proc = ServerProcess(
        [
            "--database-url",
            "postgresql://nobody@127.0.0.1:9/none",
            "--tls-cert",
            str(missing),
            "--tls-key",
            str(pki.server.key),
        ],
        cwd=tmp_path,
        log=tmp_path / "serve.log",
    )
    assert proc.proc.wait(timeout=60) == 1
    assert f"--tls-cert {missing}: cannot read it" in proc.stderr_tail()


def test_a_bad_file_at_reload_keeps_the_served_certificate(
    database_url: str, pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = tmp_path / "s.crt", tmp_path / "s.key"
    cert.write_bytes(pki.server.cert.read_bytes())
    key.write_bytes(pki.server.key.read_bytes())
    server = _serve(database_url, tls_cert=cert, tls_key=key)
    try:
        running = server._running
        assert running is not None
        cert.write_text("half-written\n")
        with caplog.at_level(logging.ERROR, logger="modelreg_server.tls"):
            assert running.reload_tls() is False
        assert "TLS reload failed, still serving the previous certificate" in caplog.text
        assert str(cert) in caplog.text
        _works(server.target, tls_ca=pki.ca_file)
    finally:
        server.stop()


def test_client_options_are_checked_early_naming_the_option(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing-ca.pem"
    with pytest.raises(ValueError, match=r"tls_ca \(--tls-ca, \$MODELREG_TLS_CA\).*missing-ca"):
        modelreg.Client(f"{HOST}:1", tls_ca=missing)
    with pytest.raises(ValueError, match=r"tls_cert .* and tls_key .* go together"):
        modelreg.Client(f"{HOST}:1", tls_cert=pki.client.cert)
    with pytest.raises(ValueError, match=r"not a certificate and its matching private key"):
        modelreg.Client(f"{HOST}:1", tls_cert=pki.client.cert, tls_key=pki.server.key)
    with pytest.raises(ValueError, match=r"api_key") as caught:
        modelreg.Client(f"{HOST}:1", api_key="two words")
    assert "two words" not in str(caught.value)
    code, out, err = _cli(f"{HOST}:1", "projects", "list", "--tls-ca", str(missing), capsys=capsys)
    assert code == 2 and "--tls-ca" in err and "missing-ca.pem" in err and out == ""


# The API key


class _Recorder(grpc.GenericRpcHandler):
    """Any method: records the call's metadata; answers GetModelVersion (so that
    ``inference_logger`` works) and reads a stream to its end."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = details.method  # type: ignore[attr-defined]
        metadata = {m.key: m.value for m in details.invocation_metadata}  # type: ignore[attr-defined]
        self.calls.append((method.rpartition("/")[2], metadata))
        if method.endswith("/WriteInferenceRecords"):

            def drain(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
                for _ in requests:
                    pass
                return iter(())

            return grpc.stream_stream_rpc_method_handler(drain)

        def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
            if method.endswith("/GetModelVersion"):
                return resources_pb2.ModelVersion(version=3).SerializeToString()
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "recorder")
            raise AssertionError

        return grpc.unary_unary_rpc_method_handler(unary)


@pytest.fixture
def recorder() -> Iterator[tuple[str, _Recorder]]:
    handler = _Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(4), handlers=(handler,))
    port = server.add_insecure_port(f"{HOST}:0")
    server.start()
    yield f"{HOST}:{port}", handler
    server.stop(0)


def _bearers(handler: _Recorder, method: str) -> list[str | None]:
    return [meta.get("authorization") for name, meta in handler.calls if name == method]


def test_the_sdk_sends_the_api_key_on_reads_writes_and_the_logger_stream(
    recorder: tuple[str, _Recorder],
) -> None:
    target, handler = recorder
    with modelreg.Client(target, api_key="mrk_k1_secret", retry=NO_RETRY) as client:
        assert "mrk_k1_secret" not in repr(client.security)
        with pytest.raises(modelreg.ModelregError):
            client.get_project("p")
        with pytest.raises(modelreg.ModelregError):
            client.create_project("p")
        logger = client.inference_logger("p", "m", version=3)
        logger.log(inputs={"x": 1}, prediction=1.0)
        logger.close(timeout=5)
    assert _bearers(handler, "GetProject") == ["Bearer mrk_k1_secret"]
    assert _bearers(handler, "CreateProject") == ["Bearer mrk_k1_secret"]
    assert _bearers(handler, "GetModelVersion") == ["Bearer mrk_k1_secret"]
    assert set(_bearers(handler, "WriteInferenceRecords")) == {"Bearer mrk_k1_secret"}


async def test_the_async_client_sends_the_key_from_the_environment(
    recorder: tuple[str, _Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, handler = recorder
    monkeypatch.setenv("MODELREG_API_KEY", "mrk_env_key")
    async with modelreg.AsyncClient(target, retry=NO_RETRY) as client:
        with pytest.raises(modelreg.ModelregError):
            await client.get_project("p")
    assert _bearers(handler, "GetProject") == ["Bearer mrk_env_key"]


def test_without_a_key_no_authorization_header(recorder: tuple[str, _Recorder]) -> None:
    target, handler = recorder
    client = modelreg.Client(target, retry=NO_RETRY)
    with client, pytest.raises(modelreg.ModelregError):
        client.get_project("p")
    assert _bearers(handler, "GetProject") == [None]


def test_the_cli_sends_the_api_key(
    recorder: tuple[str, _Recorder], capsys: pytest.CaptureFixture[str]
) -> None:
    target, handler = recorder
    code, out, err = _cli(target, "projects", "get", "p", "--api-key", "mrk_cli_key", capsys=capsys)
    assert code == 1 and "UNIMPLEMENTED" in err
    assert "mrk_cli_key" not in out + err
    assert _bearers(handler, "GetProject") == ["Bearer mrk_cli_key"]


def test_a_server_without_auth_ignores_the_key(tls_server: ServerThread, pki: Pki) -> None:
    _works(tls_server.target, tls_ca=pki.ca_file, api_key="mrk_ignored_here")


def test_a_logger_made_directly_takes_a_security_object(recorder: tuple[str, _Recorder]) -> None:
    target, handler = recorder
    logger = modelreg.InferenceLogger(target, "p", "m", 3, security=Security(api_key="mrk_direct"))
    logger.log(prediction=1.0)
    logger.close(timeout=5)
    assert set(_bearers(handler, "WriteInferenceRecords")) == {"Bearer mrk_direct"}


# --insecure


def _health(target: str) -> tuple[int, dict[str, str]]:
    with grpc.insecure_channel(target) as channel:
        response, call = health_pb2_grpc.HealthStub(channel).Check.with_call(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        return int(response.status), {m.key: m.value for m in call.trailing_metadata()}


def test_insecure_warns_at_start_and_in_health_checks(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A non-loopback address cannot be bound here; the warning is the same on loopback.
    with caplog.at_level(logging.WARNING, logger="modelreg_server"):
        server = _serve(database_url, insecure=True)
    try:
        assert any("--insecure" in r.getMessage() for r in caplog.records)
        status, trailer = _health(server.target)
        assert status == health_pb2.HealthCheckResponse.SERVING
        assert "without API keys" in trailer[WARNING_METADATA]
    finally:
        server.stop()


def test_no_warning_without_insecure(tls_server: ServerThread, database_url: str) -> None:
    server = _serve(database_url)
    try:
        _, trailer = _health(server.target)
        assert WARNING_METADATA not in trailer
    finally:
        server.stop()


def test_the_insecure_warning_names_the_network_for_a_public_address() -> None:
    public = app.insecure_warning(Settings(listen="0.0.0.0:50051", insecure=True))
    assert public is not None and "the network" in public and "plaintext" in public
    assert app.insecure_warning(Settings(listen="0.0.0.0:50051", insecure=True, auth=True)) is None
    assert app.insecure_warning(Settings()) is None


# Rotation


def _replace(pem: Path, data: bytes) -> None:
    # As a deploy tool would: a new file moved into place.
    fresh = pem.with_suffix(".new")
    fresh.write_bytes(data)
    os.replace(fresh, pem)


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_serves_a_rotated_certificate_without_dropping_open_streams(
    database_url: str, pki: Pki, tmp_path: Path, workers: int
) -> None:
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    cert.write_bytes(pki.server.cert.read_bytes())
    key.write_bytes(pki.server.key.read_bytes())
    new_ca = trustme.CA()
    new_ca_file = tmp_path / "new-ca.pem"
    new_ca.cert_pem.write_to_path(str(new_ca_file))
    new_leaf = new_ca.issue_cert(HOST)
    args = ["--database-url", database_url, "--tls-cert", str(cert), "--tls-key", str(key)]
    if workers > 1:
        args += ["--workers", str(workers)]
    proc = ServerProcess(args, cwd=tmp_path, log=tmp_path / "serve.log")
    try:
        target = proc.wait_ready()
        project = unique("rot")
        with modelreg.Client(target, tls_ca=pki.ca_file, actor="tester") as old:
            old.create_project(project)
            version = old.register_model_version(project, "m", artifact_uri="s3://b/m")
            logger = old.inference_logger(project, "m", version=version.version)
            before = [logger.log(inputs={"i": i}, prediction=float(i)) for i in range(50)]
            assert logger.flush(timeout=30)

            _replace(cert, b"".join(blob.bytes() for blob in new_leaf.cert_chain_pems))
            _replace(key, new_leaf.private_key_pem.bytes())
            proc.proc.send_signal(signal.SIGHUP)
            _wait_for(
                lambda: proc.stderr_tail(100_000).count("TLS certificate reloaded") == workers,
                "every worker reloaded",
            )

            # New connections: the new certificate (several, to reach every worker).
            for _ in range(2 * workers):
                _works(target, tls_ca=new_ca_file)
                assert _refused(target, tls_ca=pki.ca_file).code == grpc.StatusCode.UNAVAILABLE

            # The stream opened before the reload carries on: no reconnect (which
            # would fail, trusting only the old CA), everything stored.
            after = [logger.log(inputs={"i": i}, prediction=float(i)) for i in range(50, 120)]
            assert logger.flush(timeout=30)
            stats = logger.stats()
            assert stats.reconnects == 0 and stats.dropped == 0 and stats.rejected == 0
            assert logger.close(timeout=10)
            # So does the client's own open connection.
            stored = {r.record_id for r in old.list_inference_records(project, "m")}
        assert stored == set(before) | set(after)
    finally:
        assert proc.stop() == 0, proc.stderr_tail()
