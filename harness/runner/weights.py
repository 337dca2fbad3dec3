"""The weights downloader: harness's own code, standard library only, no upstream code near it.

`weights pull` runs this file alone (mounted read-only) in the recipe's env image: no upstream
tree, a non-root uid, the model cache the only writable mount. It reads the list the host
resolved from the model definitions (harness/modeldefs.py) and fetches each missing file.
The token (HF_TOKEN, at run time) goes only to the origins the host named, as an
Authorization header, and across a redirect only to one of them (HF redirects to its CDN).

    python weights.py LIST.json CACHE_DIR
    LIST.json: {"files": [{"url": ..., "name": ...}], "token_origins": ["https://huggingface.co"]}

One line per file on stdout: `[harness-weights] {"url", "name", "bytes"}` or `{..., "error"}`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Any

PREFIX = "[harness-weights] "


def _trusted(url: str, origins: list[str]) -> bool:
    return any(url.startswith(origin.rstrip("/") + "/") for origin in origins)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """The token follows a redirect only to a trusted origin (HF moves renamed repos within
    huggingface.co); to any other host (its CDN, or anywhere) it is never sent."""

    def __init__(self, token: str, origins: list[str]) -> None:
        self.token, self.origins = token, origins

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and self.token and _trusted(newurl, self.origins):
            new.add_unredirected_header("Authorization", f"Bearer {self.token}")
        return new


def _download(url: str, target: Path, token: str, origins: list[str]) -> int:
    request = urllib.request.Request(url)
    if token and _trusted(url, origins):
        # Unredirected: urllib would otherwise carry it to wherever a redirect points.
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(_Redirects(token, origins))
    tmp = target.with_name(target.name + ".part")
    try:
        with opener.open(request, timeout=60) as response, tmp.open("wb") as fh:
            shutil.copyfileobj(response, fh, length=1 << 20)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)  # a cut download leaves nothing that looks like a weight
    return target.stat().st_size


def pull(plan: dict[str, Any], cache: Path, token: str) -> int:
    files = plan.get("files", [])
    origins = [str(o) for o in plan.get("token_origins", [])]
    failed = 0
    for item in files:
        url, name = str(item["url"]), str(item["name"])
        target = cache / name
        row: dict[str, Any] = {"url": url, "name": name}
        try:
            row["bytes"] = target.stat().st_size if target.is_file() else _download(url, target, token, origins)
        except (OSError, ValueError) as exc:  # ValueError: urllib's unknown URL type
            row["error"] = str(exc)
            failed += 1
        print(PREFIX + json.dumps(row), flush=True)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    plan = json.loads(Path(argv[1]).read_text())
    return pull(plan, Path(argv[2]), os.environ.get("HF_TOKEN", ""))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
