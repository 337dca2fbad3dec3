"""pip options (build.pip_options, a recipe's pip_options) as uv's (pure).

Builds install with uv; the options users wrote stay pip's, translated here once per plan, so an
option uv has no word for is refused at planning time, naming it, rather than mid-build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import ConfigError

# pip option -> uv option (same meaning, a value follows)
_VALUED = {
    "--index-url": "--index-url",
    "-i": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "--find-links": "--find-links",
    "-f": "--find-links",
    "--only-binary": "--only-binary",
    "--no-binary": "--no-binary",
    "--trusted-host": "--allow-insecure-host",
}
_FLAGS = {"--no-index": ("--no-index",), "--pre": ("--prerelease", "allow")}
_ENV = {"--retries": "UV_HTTP_RETRIES", "--timeout": "UV_HTTP_TIMEOUT", "--default-timeout": "UV_HTTP_TIMEOUT"}
# Meaningless for uv: the download cache is the point, uv prefers wheels and prints no pip banner.
_DROPPED_FLAGS = {"--no-cache-dir", "--prefer-binary", "--disable-pip-version-check", "-q", "--quiet", "-v"}
_DROPPED_VALUED = {"--progress-bar"}
_INDEXES = {"--index-url", "--extra-index-url", "--find-links"}


@dataclass(frozen=True, kw_only=True)
class UvOptions:
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]

    def env_script(self) -> str:
        """Shell lines a build sources before calling uv (the CA bundle when one is configured)."""
        lines = [f"export {name}={value}" for name, value in self.env]
        lines.append("if [ -s /opt/harness/ca.pem ]; then export SSL_CERT_FILE=/opt/harness/ca.pem; fi")
        return "".join(f"{line}\n" for line in lines)


def _tokens(options: Sequence[str]) -> list[tuple[str, str | None]]:
    """(option, inline value) per word: `--timeout=60` and `--timeout 60` read the same."""
    words = [w for option in options for w in option.split()]
    return [(w.split("=", 1)[0], w.split("=", 1)[1]) if w.startswith("--") and "=" in w else (w, None) for w in words]


def uv_options(options: Sequence[str], source: str) -> UvOptions:
    """uv's arguments and environment for pip `options`; ConfigError for one uv cannot take."""
    args: list[str] = []
    env: dict[str, str] = {}
    tokens = _tokens(options)
    while tokens:
        name, value = tokens.pop(0)
        if name in _DROPPED_FLAGS:
            continue
        if name in _FLAGS:
            args += _FLAGS[name]
            continue
        if name not in _VALUED and name not in _ENV and name not in _DROPPED_VALUED:
            allowed = sorted({*_VALUED, *_FLAGS, *_ENV, *_DROPPED_FLAGS, *_DROPPED_VALUED})
            raise ConfigError(source, "pip_options", f"{name!r} has no uv equivalent; allowed: {', '.join(allowed)}")
        if value is None:
            if not tokens:
                raise ConfigError(source, "pip_options", f"{name!r} needs a value")
            value = tokens.pop(0)[0]
        if name in _VALUED:
            args += [_VALUED[name], value]
        elif name in _ENV:
            env[_ENV[name]] = value
    if any(a in _INDEXES for a in args):
        # pip takes the best version across every index; uv's default stops at the first index
        # that has the name (an extra index mirroring numpy would pin it to that index's few).
        args += ["--index-strategy", "unsafe-best-match"]
    return UvOptions(args=tuple(args), env=tuple(sorted(env.items())))
