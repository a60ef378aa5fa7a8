"""``ArtifactStore`` on object storage through fsspec (S3, GCS, Azure, memory).

The scheme of a workspace URL picks the fsspec implementation; the ones that need a package
(``s3fs``, ``gcsfs``, ``adlfs``) are extras, and a missing one is a one-line ``ConfigError``
naming the extra. Credentials come from each library's usual chain (environment, profiles,
instance metadata) or from ``storage.options``; they are never written anywhere by us.

Object stores cannot append, so this store is not on the runner's hot path: a run writes
to a local spool and ``common.artifacts.run_sync`` uploads numbered parts of its results.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from chatbot_tester.common.artifacts.storage import check_key
from chatbot_tester.common.redact import mask_secrets_bytes
from chatbot_tester.errors import ConfigError

__all__ = ["SCHEMES", "FsspecStore", "is_url", "storage_error"]

SCHEMES: dict[str, tuple[str | None, str | None]] = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
    "abfss": ("adlfs", "azure"),
    "memory": (None, None),
}
"""Supported URL schemes -> (package implementing it, chatbot-tester extra that installs it)."""

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_url(location: object) -> bool:
    """True when ``location`` is a string with a ``scheme://`` prefix."""
    return isinstance(location, str) and _URL.match(location) is not None


def storage_error(url: str, exc: BaseException, doing: str) -> ConfigError:
    """One line for a failed storage call: what failed, why, and the likely fix."""
    name = type(exc).__name__
    text = str(exc) or name
    if "NoCredentials" in name or "credentials" in text.lower():
        fix = "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile, or storage.options"
    elif isinstance(exc, FileNotFoundError) or "NoSuchBucket" in text:
        fix = "create the bucket, or fix the workspace URL"
    elif isinstance(exc, PermissionError) or "AccessDenied" in text or "Forbidden" in text:
        fix = "check the credentials' permissions on the bucket"
    else:
        fix = "check the workspace URL, storage.options and the network"
    return ConfigError(f"workspace {url}: cannot {doing}: {name}: {text} ({fix})")


class FsspecStore:
    """Bytes under POSIX-style keys below ``url`` on an fsspec file system.

    ``put_bytes`` is one object PUT, which object stores apply atomically (readers see the
    old object or the new one); keys are validated like ``LocalStore``'s.
    """

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        match = _URL.match(url)
        scheme = match.group(1).lower() if match else ""
        if scheme not in SCHEMES:
            known = ", ".join(f"{s}://" for s in ("s3", "gs", "az", "memory", "file"))
            raise ConfigError(
                f"workspace: unknown storage scheme '{scheme}://' in {url} "
                f"(use a local directory or one of {known})"
            )
        package, extra = SCHEMES[scheme]
        try:
            import fsspec

            if package is not None:
                __import__(package)
        except ImportError:
            raise ConfigError(
                f"workspace: {url} needs the '{package}' package "
                f"(pip install 'chatbot-tester[{extra}]')"
            ) from None
        self.url = url.rstrip("/")
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url, **(options or {}))
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"storage.options: {exc} (see the fsspec docs of {scheme}://)"
            ) from None
        self.root = root.rstrip("/")
        self.scheme = scheme

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def check(self) -> None:
        """Fail early, as one line, when the bucket is missing or unreachable."""
        if self.scheme == "memory":
            return
        bucket = self.root.split("/", 1)[0]
        try:
            found = self.fs.exists(bucket)
        except Exception as exc:
            raise storage_error(self.url, exc, f"reach bucket '{bucket}'") from None
        if not found:
            raise ConfigError(
                f"workspace {self.url}: bucket '{bucket}' does not exist "
                "(create it, or fix the workspace URL)"
            )

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (one atomic object write; registered secrets masked)."""
        self.fs.pipe_file(self._path(key), mask_secrets_bytes(data))

    def put_file(self, key: str, path: Path) -> None:
        """Upload the local file ``path`` as ``key`` (streamed; one object write)."""
        self.fs.put_file(str(path), self._path(key))

    def get_file(self, key: str, path: Path) -> None:
        """Download ``key`` to ``path``: a temp file beside it, renamed when complete."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
        try:
            self.fs.get_file(self._path(key), tmp)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def get_bytes(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``FileNotFoundError`` when absent."""
        data = self.fs.cat_file(self._path(key))
        assert isinstance(data, bytes)
        return data

    def exists(self, key: str) -> bool:
        """True when ``key`` holds an object."""
        return bool(self.fs.exists(self._path(key)))

    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys below ``prefix``."""
        return sorted(self.list_detail(prefix))

    def list_detail(self, prefix: str = "") -> dict[str, tuple[int, str]]:
        """Key -> (size, a change stamp: ETag or modification time) of every object below."""
        base = self._path(prefix) if prefix else self.root
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return {}
        out: dict[str, tuple[int, str]] = {}
        root = self.root.strip("/") + "/"
        for path, info in found.items():
            path = str(path).lstrip("/")
            if info.get("type") == "directory" or not path.startswith(root):
                continue
            stamp = info.get("ETag") or info.get("LastModified") or info.get("mtime") or ""
            out[path[len(root) :]] = (int(info.get("size") or 0), str(stamp))
        return out

    def append_line(self, key: str, line: bytes) -> None:
        """Append by rewriting the object (object stores cannot append; not for hot paths)."""
        if not line.endswith(b"\n"):
            line += b"\n"
        try:
            old = self.get_bytes(key)
        except FileNotFoundError:
            old = b""
        self.put_bytes(key, old + line)

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object below ``prefix`` (a run's folder)."""
        path = self._path(prefix)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
