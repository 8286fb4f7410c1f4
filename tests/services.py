"""Real services for tests: Debian packages installed on demand, PostgreSQL on loopback.

CI runs on a fresh machine, so a test that needs a server installs it (as root, from
Debian's packages) and starts it itself, on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def ensure_debian_packages(*packages: str, binary: str) -> str:
    """Path of `binary`, installing `packages` with apt-get if it is missing."""
    found = shutil.which(binary) or next(iter(glob.glob(binary)), None)
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"{binary} is missing and cannot be installed here (needs root and apt-get)")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True,
        env=env,
        capture_output=True,
    )
    found = shutil.which(binary) or next(iter(glob.glob(binary)), None)
    assert found, f"{binary} still missing after installing {packages}"
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """A throw-away PostgreSQL cluster owned by the `postgres` system user.

    It lives in its own world-traversable temporary folder: pytest's are private to
    root, and PostgreSQL refuses to run as root.
    """
    initdb = ensure_debian_packages("postgresql", binary="/usr/lib/postgresql/*/bin/initdb")
    bindir = Path(initdb).parent
    workdir = Path(tempfile.mkdtemp(prefix="ctdc-postgres-"))
    workdir.chmod(0o755)
    cluster = workdir / "pgdata"
    cluster.mkdir()
    shutil.chown(cluster, "postgres", "postgres")
    password_file = workdir / "pw"
    password_file.write_text("ctdc-test\n")
    shutil.chown(password_file, "postgres", "postgres")
    port = free_port()

    def as_postgres(*command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True
        )

    as_postgres(
        str(bindir / "initdb"), "-D", str(cluster), "-U", "ctdc", "--auth=scram-sha-256",
        f"--pwfile={password_file}", "-E", "UTF8",
    )  # fmt: skip
    as_postgres(
        str(bindir / "pg_ctl"), "-D", str(cluster), "-w", "-l", str(cluster / "log"),
        "-o", f"-h 127.0.0.1 -p {port} -k {cluster}", "start",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield Postgres("127.0.0.1", port, "ctdc", "ctdc-test", "postgres")
    finally:
        as_postgres(str(bindir / "pg_ctl"), "-D", str(cluster), "-m", "fast", "stop")
        shutil.rmtree(workdir, ignore_errors=True)


CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium_path() -> str:
    """Debian's chromium (browser downloads are impossible here), installed if missing."""
    return ensure_debian_packages("chromium", binary="/usr/bin/chromium")
