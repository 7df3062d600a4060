"""Where reports live. Every report is written in a folder of its own under SYNC_REPORTS_DIR, on the host that
ran it; SYNC_REPORTS_URL, when set, names a place every host reaches — a mounted share's path or an fsspec URL
(file://, memory://, s3://…, whose driver must be installed) — and each report folder is copied there, so a
report written on host B is read where host A's are. The run record (state/runs.py) keeps that location."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import fsspec

from reporting.files import ReportsNotWritable
from state.settings import SyncSettings


def check_shared(settings: SyncSettings) -> None:
    """Write and remove a file under SYNC_REPORTS_URL (if set), so that a run whose report could not be shared
    fails before it saves anything."""
    if settings.reports_url is None:
        return
    url = settings.reports_url.get_secret_value()
    try:
        fs, root = fsspec.core.url_to_fs(url.rstrip("/"))
        fs.makedirs(root, exist_ok=True)
        probe = f"{root}/.write-check-{uuid.uuid4().hex}"
        fs.pipe_file(probe, b"")
        fs.rm_file(probe)
    except Exception as exc:  # any driver's own errors, as well as OSError
        raise ReportsNotWritable(
            f"SYNC_REPORTS_URL={shown(url)} cannot hold reports ({hidden(exc, url)}): point it at a writable "
            "shared folder or URL; nothing was fetched or written"
        ) from None


def share(folder: Path, settings: SyncSettings) -> str:
    """Copy a finished report folder to SYNC_REPORTS_URL (if set); return where readers find it (`located`).
    A failed copy is an OSError, as a failed local write is, so the run keeps its outcomes for the next report."""
    location = located(folder, settings)
    if settings.reports_url is None:
        return location
    url = settings.reports_url.get_secret_value()
    target = f"{url.rstrip('/')}/{folder.name}"
    try:
        fs, path = fsspec.core.url_to_fs(target)
        fs.makedirs(path, exist_ok=True)
        for file in sorted(folder.iterdir()):
            fs.put_file(str(file), f"{path}/{file.name}")
    except Exception as exc:  # any driver's own errors, as well as OSError
        raise OSError(f"the report could not be copied to {location} ({hidden(exc, url)})") from None
    return location


def located(folder: Path, settings: SyncSettings) -> str:
    """Where a report folder is read: its copy under SYNC_REPORTS_URL (without a password), else the local path."""
    if settings.reports_url is None:
        return str(folder.resolve())
    return f"{without_password(settings.reports_url.get_secret_value()).rstrip('/')}/{folder.name}"


def without_password(url: str) -> str:
    """The URL with the password of its user part dropped (sftp://user:pw@host/x → sftp://user@host/x)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{host}" if parts.username else host))


def shown(url: str) -> str:
    """The URL as a message may show it: its password as ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}"))


def hidden(exc: BaseException, url: str) -> str:
    """An error's text without the URL's password, whatever the driver put in it."""
    password = urlsplit(url).password
    text = str(exc) or type(exc).__name__
    return text.replace(password, "***") if password else text
