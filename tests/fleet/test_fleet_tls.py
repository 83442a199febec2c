"""rediss://: the fleet client talks TLS to a real redis-server that checks both sides
(its certificate against the configured CA, the client's certificate against its own)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.redisserver import PASSWORD, RedisServer, free_port, have_redis
from warden.config import load_jails

pytestmark = pytest.mark.skipif(not have_redis() or shutil.which("openssl") is None,
                                reason="needs redis-server, redis-py and openssl")

if have_redis():
    from warden.fleet.client import Endpoint, FleetClient, FleetUnavailable


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _ca(root: Path, name: str) -> tuple[Path, Path]:
    key, crt = root / f"{name}.key", root / f"{name}.crt"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
             "-days", "2", "-subj", f"/CN={name}")
    return crt, key


def _signed(root: Path, name: str, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    key, csr, crt = root / f"{name}.key", root / f"{name}.csr", root / f"{name}.crt"
    ext = root / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj",
             f"/CN={name}")
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
             "-out", crt, "-days", "2", "-extfile", ext)
    key.chmod(0o600)
    return crt, key


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca = _ca(tmp_path, "ca")
    other = _ca(tmp_path, "other-ca")
    server = _signed(tmp_path, "server", ca)
    client = _signed(tmp_path, "client", ca)
    return {"ca": ca[0], "other": other[0], "server": server[0], "server.key": server[1],
            "client": client[0], "client.key": client[1]}


@pytest.fixture
def tls_redis(tmp_path: Path, pki: dict[str, Path]) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", port=free_port(),
                         tls=(pki["ca"], pki["server"], pki["server.key"])).start()
    try:
        yield server
    finally:
        server.stop()


def _ping(endpoint: Endpoint) -> None:
    async def run() -> None:
        client = FleetClient(endpoint)
        try:
            await client.ping()
        finally:
            await client.close()
    asyncio.run(run())


def test_tls_with_a_client_certificate(tls_redis: RedisServer, pki: dict[str, Path]) -> None:
    url = f"rediss://:{PASSWORD}@127.0.0.1:{tls_redis.port}/0"
    _ping(Endpoint(url, cafile=str(pki["ca"]), certfile=str(pki["client"]),
                   keyfile=str(pki["client.key"])))
    with pytest.raises(FleetUnavailable):  # the server wants a client certificate
        _ping(Endpoint(url, cafile=str(pki["ca"])))
    with pytest.raises(FleetUnavailable):  # a server the configured CA did not sign
        _ping(Endpoint(url, cafile=str(pki["other"]), certfile=str(pki["client"]),
                       keyfile=str(pki["client.key"])))
    with pytest.raises(FleetUnavailable):  # plain text to a TLS port
        _ping(Endpoint(url.replace("rediss://", "redis://")))


def test_the_tls_files_are_configured_in_the_fleet_section(tmp_path: Path,
                                                           pki: dict[str, Path]) -> None:
    root = tmp_path / "conf"
    (root / "filter.d").mkdir(parents=True)
    (root / "jail.conf").write_text("[DEFAULT]\n")
    (root / "warden.conf").write_text(
        f"[Fleet]\nredis = rediss://192.0.2.5:6380/0\ncafile = {pki['ca']}\n"
        f"certfile = {pki['client']}\nkeyfile = {pki['client.key']}\n")
    config = load_jails(root)
    assert config.errors == ()
    assert config.fleet is not None
    assert (config.fleet.cafile, config.fleet.certfile, config.fleet.keyfile) == (
        str(pki["ca"]), str(pki["client"]), str(pki["client.key"]))
    pki["client.key"].chmod(0o644)
    config = load_jails(root)
    assert config.fleet is None
    assert "keyfile:" in config.errors[0].message and "chmod 600" in config.errors[0].message
