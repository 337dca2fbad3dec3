"""Soak of issue 16 (run by hand, not a test): prints figures, asserts nothing.

1,000 watch cycles at the contract level, in this process (so its memory, descriptors and
threads are the watcher's), over the real wiring (harness/cli/world.py: git mirror, store,
engine client, webhook receiver), with faults injected on a schedule:
  - the engine "restarts": it is reached through a socket proxy that is cut for a few cycles
    (to harness exactly a daemon that stopped answering; retention's gc needs it every cycle);
  - fetches fail: upstream is served by `git daemon`, stopped for a few cycles (connection refused);
  - the webhook receiver is down for a while (events wait in the outbox);
  - new commits arrive every 40 cycles, every third breaking the contract (FAIL, a contract
    bisect, the impact report).
Goals: no crash, under 10 minutes, RSS growth under 10 % (cycle 100 to the end), open
descriptors and threads constant, no container left.
Usage: .venv/bin/python bench/watch_soak.py [CYCLES]
"""

from __future__ import annotations

import collections
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import harness.cli.world as world  # noqa: E402 - after the path: bench/ runs from a checkout
from harness.adapters.git_repo import write_commits  # noqa: E402
from harness.config import load_config  # noqa: E402
from harness.metrics import NullMetrics  # noqa: E402
from harness.ops.watch import cycle  # noqa: E402
from harness.sample.make import rename_function, template  # noqa: E402
from harness.store import Store  # noqa: E402
from tests.receiver import Receiver  # noqa: E402

ENGINE_DOWN = (100, 8)  # every 100 cycles, for 8
FETCH_DOWN = (150, 6)
RECEIVER_DOWN = (120, 20)
NEW_COMMIT_EVERY = 40
WARM = 160  # the first sample: every fault has come and gone once, everything is up


class _Count:
    def __init__(self) -> None:
        self.steps = 0

    def step(self, text: str) -> None:
        self.steps += 1

    def line(self, text: str) -> None:
        pass


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


_BENCH_THREADS = ("process_request", "serve_forever", "receiver")  # the webhook receiver's own


def _sample() -> tuple[int, int, int]:
    """RSS in KiB, open descriptors, the watcher's threads (not the proxy's or the receiver's)."""
    mine = [t for t in threading.enumerate() if not any(n in t.name for n in _BENCH_THREADS)]
    if os.environ.get("SOAK_FDS"):
        links = sorted(_link(f) for f in os.listdir("/proc/self/fd"))
        print(collections.Counter(links), file=sys.stderr)
    return _status("VmRSS"), len(os.listdir("/proc/self/fd")), len(mine)


def _link(fd: str) -> str:
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "gone"
    return target.split("[")[0] if target.startswith(("socket:", "pipe:", "anon_inode:")) else target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Daemon:
    """`git daemon` serving the folder of the upstream repository; stop() refuses connections."""

    def __init__(self, base: Path) -> None:
        self.port = _free_port()
        self.argv = ["git", "daemon", "--reuseaddr", f"--port={self.port}", "--listen=127.0.0.1", "--export-all"]
        self.argv += [f"--base-path={base}", str(base)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class _Engine:
    """The engine as the watcher reaches it: a socket proxy in a process of its own (its sockets
    and threads are not counted as the watcher's), killed and started again by the soak."""

    PROXY = (
        "import signal, sys; from pathlib import Path; from tests.integration.test_engine_loss import engine_proxy\n"
        "with engine_proxy(Path(sys.argv[1])):\n    print('up', flush=True); signal.pause()"
    )

    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-c", self.PROXY, str(self.path)]
        env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}  # it proxies the real engine
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "up"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close() if self.proc.stdout else None
            self.proc = None
        self.path.unlink(missing_ok=True)


class _Faults:
    """Each fault: down at the start of its window, up at its end (every, for) in cycles."""

    def __init__(self, engine: _Engine, daemon: _Daemon, hook: Receiver) -> None:
        self.windows = ((engine, ENGINE_DOWN), (daemon, FETCH_DOWN), (hook, RECEIVER_DOWN))

    def restore(self) -> None:
        """Everything up again (what is down at the end of the soak), to compare with WARM."""
        for thing, _ in self.windows:
            thing.stop()
            thing.start()

    def at(self, i: int) -> None:
        for thing, (every, length) in self.windows:
            if i % every == 0:
                thing.stop()
            elif i > every and i % every == length:
                thing.start()


def _config(folder: Path, port: int, hook: str) -> Path:
    config = folder / "harness.yaml"
    config.write_text(
        f"upstream: {{url: 'git://127.0.0.1:{port}/upstream', fetch_timeout_s: 10}}\n"
        f"state_dir: state\ncontract: {ROOT / 'harness/sample/contract.yaml'}\n"
        f"image: {{repo: harness-soak/s{os.getpid()}, recipe: cpu}}\n"
        "suite:\n  cases: [{id: t2v, model: t2v_tiny, resolution: 64x48, frames: 9}]\n"
        "watch:\n  levels: [contract]\n  poll_s: 0.1\n  revalidate_s: 0\n  retention_s: 1\n"
        "  escalate_after: 3\n  backoff_max_s: 1\n"
        f"notify:\n  webhooks: [{{url: '{hook}'}}]\n  retries: 0\n  backoff_s: 0\n  timeout_s: 2\n"
    )
    return config


def _commit(upstream: Path, n: int) -> None:
    wgp = template()["wgp.py"] or ""
    broken = n % 3 == 0
    text = rename_function(wgp, "generate_video", "generate_video_v2") if broken else wgp
    write_commits(upstream, [(f"soak commit {n}{' (breaks)' if broken else ''}", {"wgp.py": f"{text}\n# {n}\n"})])


def _containers(state: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}  # the engine itself, not the proxy
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=harness.state={state}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return len(out.stdout.split())


def soak(cycles: int, folder: Path) -> None:
    write_commits(folder / "upstream", [("base", template())])
    daemon, engine = _Daemon(folder), _Engine(folder / "engine.sock")
    os.environ["DOCKER_HOST"] = f"unix://{engine.path}"
    with Receiver() as hook:
        daemon.start()
        engine.start()
        cfg = load_config(_config(folder, daemon.port, hook.url))
        reporter = _Count()
        ports = world.watch_world(cfg, reporter, NullMetrics())
        faults = _Faults(engine, daemon, hook)
        streaks, warm, began = collections.Counter[int](), (0, 0, 0), time.monotonic()
        try:
            for i in range(1, cycles + 1):
                faults.at(i)
                if i % NEW_COMMIT_EVERY == 0:
                    _commit(folder / "upstream", i // NEW_COMMIT_EVERY)
                streaks[cycle(ports).streak.count] += 1
                if i == WARM:
                    warm = _sample()
            wall = time.monotonic() - began
            faults.restore()
            for _ in range(3):
                cycle(ports)
            end = _sample()
        finally:
            daemon.stop()
            engine.stop()
        assert isinstance(ports.store, Store)
        _report(
            cycles,
            wall,
            (warm, end),
            ports.store,
            received=len(hook.bodies),
            streaks=dict(sorted(streaks.items())),
            steps=reporter.steps,
        )


def _report(cycles: int, wall: float, samples: tuple[tuple[int, int, int], ...], store: Store, **seen: object) -> None:
    (rss0, fds0, threads0), (rss1, fds1, threads1) = samples
    kinds = collections.Counter(e.event.kind for e in store.events(100_000))
    print(f"cycles {cycles} in {wall:.1f} s ({wall / cycles * 1000:.0f} ms each; goal: all in < 600 s)")
    growth = 100 * (rss1 - rss0) / rss0
    print(f"RSS at cycle {WARM} {rss0 / 1024:.1f} MiB, at the end {rss1 / 1024:.1f} MiB: {growth:+.1f} % (goal < 10 %)")
    print(f"open descriptors {fds0} -> {fds1}; threads {threads0} -> {threads1} (goal: constant)")
    print(f"events {dict(kinds)}; undelivered {len(store.pending_events())}; {seen}")
    print(f"runs recorded {len(store.runs(100_000))}; containers of this state left {_containers(store.state_id())}")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    tmp = Path(tempfile.mkdtemp(prefix="watch-soak-"))
    try:
        soak(n, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
