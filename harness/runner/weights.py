"""The weights downloader: harness's own code, standard library only, no upstream code near it.

`weights pull` runs this file alone (mounted read-only) in the recipe's env image: no upstream
tree, a non-root uid, the model cache the only writable mount. It reads the list the host
resolved from the model definitions (harness/modeldefs.py) and fetches each missing file.
The token (HF_TOKEN, at run time) goes only to the origins the host named, as an
Authorization header that urllib never carries across a redirect (HF redirects to its CDN).

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


def _request(url: str, token: str, origins: list[str]) -> urllib.request.Request:
    request = urllib.request.Request(url)
    if token and any(url.startswith(origin.rstrip("/") + "/") for origin in origins):
        # Unredirected: a redirect to another host (the CDN, or anywhere) never gets the token.
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    return request


def _download(url: str, target: Path, token: str, origins: list[str]) -> int:
    tmp = target.with_name(target.name + ".part")
    with urllib.request.urlopen(_request(url, token, origins), timeout=60) as response, tmp.open("wb") as fh:
        shutil.copyfileobj(response, fh, length=1 << 20)
    tmp.replace(target)
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
