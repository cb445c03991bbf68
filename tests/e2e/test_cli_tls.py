"""TLS (R4): ``calgate serve --tls-cert --tls-key`` speaks TLS 1.2 or newer and refuses
older clients."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .conftest import Cli, Server, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calgate test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _client_context(cert: Path, *, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    if maximum is not None:
        # Let this client offer old protocols at all (OpenSSL's default security level
        # forbids them on the client side too).
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = maximum
    return ctx


def _handshake(port: int, ctx: ssl.SSLContext) -> str:
    """Connect and return the negotiated protocol version (raises if refused)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        version = tls.version()
        assert version is not None
        return version


@pytest.fixture
def permissive_server(certificate: tuple[Path, Path]) -> Iterator[int]:
    """A control server that accepts TLS 1.0+: proves the TLS 1.1 client below really can
    offer TLS 1.1 here, so calgate's refusal is calgate's doing."""
    cert, key = certificate
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.load_cert_chain(str(cert), str(key))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    listener.close()
    thread.join(timeout=5)


@pytest.fixture
def tls_server(cli: Cli, certificate: tuple[Path, Path]) -> Server:
    cert, key = certificate
    port = free_port()
    return cli.start(
        "serve", "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key),
        scheme="https",
    )  # fmt: skip


def test_tls_server_answers_over_https_R4(
    tls_server: Server, certificate: tuple[Path, Path]
) -> None:
    cert, _ = certificate
    tls12 = _client_context(cert)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2

    r = httpx.get(f"{tls_server.base_url}/healthz", verify=tls12)
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    port = int(tls_server.base_url.rsplit(":", 1)[1])
    assert _handshake(port, tls12) == "TLSv1.2"
    assert _handshake(port, _client_context(cert)) in {"TLSv1.2", "TLSv1.3"}


# The point of this test is to offer an obsolete protocol, which Python warns about.
@pytest.mark.filterwarnings(r"ignore:ssl\.TLSVersion\.\w+ is deprecated:DeprecationWarning")
def test_tls_1_1_client_is_refused_R4(
    tls_server: Server, certificate: tuple[Path, Path], permissive_server: int
) -> None:
    cert, _ = certificate
    old = _client_context(cert, maximum=ssl.TLSVersion.TLSv1_1)
    try:
        control = _handshake(permissive_server, old)
    except ssl.SSLError as exc:  # pragma: no cover - depends on the local OpenSSL build
        pytest.skip(f"this OpenSSL cannot speak TLS 1.1 even when asked: {exc}")
    assert control == "TLSv1.1"

    port = int(tls_server.base_url.rsplit(":", 1)[1])
    with pytest.raises(ssl.SSLError) as refused:
        _handshake(port, old)
    assert "version" in str(refused.value).lower() or "protocol" in str(refused.value).lower()
    # and the server is still fine for modern clients
    assert (
        httpx.get(f"{tls_server.base_url}/healthz", verify=_client_context(cert)).status_code == 200
    )


def test_plain_http_to_the_tls_port_gets_nothing_useful_R4(tls_server: Server) -> None:
    plain = tls_server.base_url.replace("https://", "http://")
    try:
        r = httpx.get(f"{plain}/healthz", timeout=5)
    except httpx.TransportError:
        return
    assert r.status_code != 200


def test_tls_on_a_public_address_is_allowed_R4(cli: Cli, certificate: tuple[Path, Path]) -> None:
    """With TLS configured, listening on every interface is fine (no --behind-proxy)."""
    cert, key = certificate
    port = free_port()
    server = cli.start(
        "serve", "--host", "0.0.0.0", "--port", str(port),
        "--tls-cert", str(cert), "--tls-key", str(key), scheme="https",
    )  # fmt: skip
    assert httpx.get(f"{server.base_url}/healthz", verify=_client_context(cert)).status_code == 200


def test_behind_proxy_allows_plain_http_on_a_public_address_R4(cli: Cli) -> None:
    port = free_port()
    server = cli.start("serve", "--host", "0.0.0.0", "--port", str(port), "--behind-proxy")
    r = httpx.get(f"{server.base_url}/healthz")
    assert r.status_code == 200
