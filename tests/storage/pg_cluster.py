"""A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's server binaries, ``make postgres``).

``initdb`` in a fresh temp dir, ``pg_ctl start`` on a free loopback port with its unix socket
in that dir, password (scram) authentication over TCP, ``pg_ctl stop`` and removal at the
end. PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres``
user (created by Debian's package) and the commands run through ``runuser``. Used by the
tests' fixtures and by ``bench/runs_list.py --postgres``; needs nothing but the binaries.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PgCluster", "find_bin_dir"]

USER = "ct"
PASSWORD = "ct-cluster-pw-7f3a"


def find_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl`` (newest Debian version first)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version, reverse=True)
    if found:
        return Path(found[0]).parent
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run `make postgres` "
        "(apt-get install postgresql)"
    )


def _version(path: str) -> float:
    try:
        return float(Path(path).parents[1].name)
    except ValueError:
        return 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """One cluster: ``start()``, ``url(db)``, ``create_database(name)``, ``stop()``."""

    def __init__(self) -> None:
        self.bin = find_bin_dir()
        self.port = _free_port()
        self.password = PASSWORD
        self.user = USER
        self.dir = Path(tempfile.mkdtemp(prefix="ct-pg-"))
        self._owner: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "running as root, PostgreSQL needs a non-root user: no 'postgres' user "
                    "(apt-get install postgresql creates it)"
                ) from None
            self._owner = "postgres"
            shutil.chown(self.dir, "postgres")

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._owner is not None:
            cmd = ["runuser", "-u", self._owner, "--", *cmd]
        env = {**os.environ, "LC_ALL": "C"}
        out = subprocess.run(cmd, cwd=self.dir, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({out.returncode}): {out.stderr.strip()}")

    def start(self) -> PgCluster:
        """initdb, then start the server on 127.0.0.1:``port`` and wait until it answers."""
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        if self._owner is not None:
            shutil.chown(pwfile, self._owner)
        data = self.dir / "data"
        self._run(
            "initdb", "-D", str(data), "-U", self.user, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale",
            "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = self.dir / "server.log"
        self._run("pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        return self

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        """``postgresql://ct:<password>@127.0.0.1:<port>/<database>``."""
        secret = self.password if password is None else password
        return f"postgresql://{self.user}:{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name``; its URL."""
        import sqlalchemy as sa

        engine = sa.create_engine(
            self.url().replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
            poolclass=sa.pool.NullPool,
        )
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove the cluster."""
        try:
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
