"""The report's folder (adapters/site_files.py) and its server (adapters/site_server.py): pages
written whole, run files linked only when they are regular files inside their run folder, only
what the manifest names removed; the server sends the pages with a no-script policy."""

from __future__ import annotations

import os
import threading
import urllib.request
from pathlib import Path

import pytest

from harness.adapters.site_files import SiteFolder
from harness.adapters.site_server import serve_site
from harness.errors import UsageError
from harness.metrics import MetricsAddr, parse_metrics_addr


def test_pages_are_written_whole_and_a_link_shares_the_file(tmp_path: Path) -> None:
    site, run = SiteFolder(tmp_path / "site"), tmp_path / "runs" / "r1"
    (run / "out").mkdir(parents=True)
    (run / "out" / "v.mp4").write_bytes(b"video")
    site.write("runs/r1/index.html", "<p>hi</p>")
    site.link(run / "out" / "v.mp4", "runs/r1/c0.mp4", within=run)
    assert (tmp_path / "site/runs/r1/index.html").read_text() == "<p>hi</p>"
    assert os.path.samefile(tmp_path / "site/runs/r1/c0.mp4", run / "out" / "v.mp4")
    assert sorted(p.name for p in (tmp_path / "site/runs/r1").iterdir()) == ["c0.mp4", "index.html"]  # no staging left


def test_a_symlink_or_a_folder_pointing_out_of_the_run_is_never_linked(tmp_path: Path) -> None:
    site, run = SiteFolder(tmp_path / "site"), tmp_path / "runs" / "r1"
    (run / "out").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("host file")
    (run / "out" / "v.mp4").symlink_to(secret)
    (run / "elsewhere").symlink_to(tmp_path)
    with pytest.raises(OSError, match="outside its run folder"):
        site.link(run / "out" / "v.mp4", "runs/r1/c0.mp4", within=run)
    with pytest.raises(OSError, match="outside its run folder"):
        site.link(run / "elsewhere" / "secret.txt", "runs/r1/c1.mp4", within=run)
    os.mkfifo(run / "out" / "fifo.mp4")
    with pytest.raises(OSError, match="not a regular file"):
        site.link(run / "out" / "fifo.mp4", "runs/r1/c2.mp4", within=run)
    assert not (tmp_path / "site" / "runs").exists()


def test_paths_outside_the_site_are_refused_and_removal_keeps_other_files(tmp_path: Path) -> None:
    site = SiteFolder(tmp_path / "site")
    for bad in ("../x.html", "/etc/passwd", ""):
        with pytest.raises(ValueError):
            site.write(bad, "x")
    site.write("runs/r1/index.html", "x")
    (tmp_path / "site/runs/notes.txt").write_text("the user's")
    site.remove("runs/r1/index.html")
    assert not (tmp_path / "site/runs/r1").exists() and (tmp_path / "site/runs/notes.txt").is_file()
    site.save_manifest({"index.html": "d"})
    assert site.manifest() == {"index.html": "d"}


def test_the_server_sends_the_site_with_a_no_script_policy(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<p>report</p>")
    server = serve_site(str(tmp_path), MetricsAddr(host="127.0.0.1", port=0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/index.html", timeout=10) as answer:
            assert answer.read() == b"<p>report</p>"
            assert "script-src 'none'" in answer.headers["Content-Security-Policy"]
    finally:
        server.shutdown()
        server.server_close()


def test_serve_leaves_the_loopback_only_when_told() -> None:
    assert parse_metrics_addr("8080", any_host=False, option="--serve").host == "127.0.0.1"
    with pytest.raises(UsageError, match=r"--serve '0\.0\.0\.0:8080'.*--serve-any-host"):
        parse_metrics_addr("0.0.0.0:8080", any_host=False, option="--serve", reveals="the report shows logs")
