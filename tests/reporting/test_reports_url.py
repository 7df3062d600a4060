"""SYNC_REPORTS_URL: report folders copied to a place every host reaches (reporting/location.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import pytest

from reporting.files import ReportsNotWritable
from reporting.location import check_shared, located, share
from state.settings import SyncSettings

PASSWORD = "s3cret-Pa55"


def _report(tmp_path: Path) -> Path:
    """A finished report folder as the writers leave it."""
    folder = tmp_path / "reports" / "20260101-080000-outbound-local"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text('{"written": 3}', encoding="utf-8")
    (folder / "report.xlsx").write_bytes(b"PK\x03\x04 workbook bytes")
    (folder / "held.csv").write_text("document,rule_id\n1001,shop.unmapped\n", encoding="utf-8")
    return folder


def _settings(tmp_path: Path, url: str | None) -> SyncSettings:
    return SyncSettings(reports_dir=tmp_path / "reports", reports_url=url)


def _shared_files(location: str) -> dict[str, bytes]:
    fs, path = fsspec.core.url_to_fs(location)
    return {Path(name).name: fs.cat_file(name) for name in fs.ls(path, detail=False)}


def test_unset_the_report_stays_local_and_the_record_names_its_folder(tmp_path):
    folder = _report(tmp_path)
    assert share(folder, _settings(tmp_path, None)) == str(folder.resolve())


@pytest.mark.parametrize("kind", ["file-url", "memory-url", "mounted-share-path"])
def test_a_report_folder_is_copied_whole_and_read_back_through_the_url(kind, tmp_path):
    share_root = {
        "file-url": (tmp_path / "share").as_uri(),
        "memory-url": f"memory://reports-{uuid.uuid4().hex}/team",
        "mounted-share-path": str(tmp_path / "mnt" / "share"),
    }[kind]
    folder = _report(tmp_path)
    settings = _settings(tmp_path, share_root + "/")
    check_shared(settings)
    location = share(folder, settings)
    assert location == f"{share_root}/{folder.name}" == located(folder, settings)
    assert _shared_files(location) == {file.name: file.read_bytes() for file in folder.iterdir()}
    with fsspec.open(f"{location}/summary.json", "rt", encoding="utf-8") as summary:  # as another host reads it
        assert summary.read() == '{"written": 3}'


def test_the_location_recorded_and_the_errors_never_carry_the_urls_password(tmp_path):
    url = f"sftp://sync:{PASSWORD}@127.0.0.1:1/srv/reports"  # no sftp driver installed: it cannot be reached
    settings = _settings(tmp_path, url)
    folder = _report(tmp_path)
    assert located(folder, settings) == f"sftp://sync@127.0.0.1:1/srv/reports/{folder.name}"
    with pytest.raises(ReportsNotWritable, match="cannot hold reports") as refused:
        check_shared(settings)
    with pytest.raises(OSError, match="could not be copied") as failed:
        share(folder, settings)
    for error in (refused, failed):
        assert PASSWORD not in str(error.value) and PASSWORD not in repr(error.value)
    assert "sftp://sync:***@127.0.0.1:1/srv/reports" in str(refused.value)
    assert PASSWORD not in repr(settings)


def test_a_share_that_cannot_take_files_is_refused_before_the_run(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    settings = _settings(tmp_path, (tmp_path / "a-file" / "reports").as_uri())
    with pytest.raises(ReportsNotWritable, match="SYNC_REPORTS_URL=file://.*nothing was fetched or written"):
        check_shared(settings)
    with pytest.raises(OSError, match="could not be copied"):
        share(_report(tmp_path), settings)
