"""Hostile upstream code and faults on the real engine: each one confined and classified,
never a plain regression, the container always removed and no tag moved."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from harness.errors import EXIT_FAIL, EXIT_SKIP
from harness.limits import MEMORY_SHARE, Limits
from harness.model import Verdict
from harness.naming import LAST_GOOD
from harness.runplan import GpuPlan, RunRequest
from harness.sample.make import template
from tests.conftest import BASE_IMAGE, write_config
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration
ANCHOR = "    model = get_model_def(model_type)\n"
FACTS = """    import json as _j, os as _o, socket as _s
    def _try(fn):
        try:
            fn()
            return True
        except Exception:
            return False
    status = open("/proc/self/status").read()
    facts = {
        "uid": _o.getuid(),
        "write_image_root": _try(lambda: open("/opt/wan2gp/owned", "w")),
        "write_slash": _try(lambda: open("/owned", "w")),
        "network": _try(lambda: _s.create_connection(("1.1.1.1", 53), timeout=2)),
        "cap_eff": [l.split()[1] for l in status.splitlines() if l.startswith("CapEff")][0],
        "no_new_privs": [l.split()[1] for l in status.splitlines() if l.startswith("NoNewPrivs")][0],
        "engine_socket": _o.path.exists("/var/run/docker.sock"),
        "write_cwd": _try(lambda: open("wgp_config_probe.json", "w")),
    }
    children = []
    try:
        for _ in range(200):
            pid = _o.fork()
            if pid == 0:
                import time as _t
                _t.sleep(30)
                _o._exit(0)
            children.append(pid)
    except OSError:
        pass
    for pid in children:  # a bomb that stopped: let the case go on and write its video
        _o.kill(pid, 9)
        _o.waitpid(pid, 0)
    facts["forks"] = len(children)
    _o.makedirs(save_path, exist_ok=True)
    open(_o.path.join(save_path, "facts.json"), "w").write(_j.dumps(facts))
"""


def _hostile(project: Project, code: str) -> str:
    wgp = template()["wgp.py"] or ""
    return project.commit("hostile", {**template(), "wgp.py": wgp.replace(ANCHOR, code + ANCHOR, 1)})


def _configure(project: Project, run_extra: str = "", build_extra: str = "") -> None:
    text = write_config(project.folder, upstream=project.upstream, repo=project.repo, run_extra=run_extra).read_text()
    if build_extra:
        text = text.replace("build:\n", f"build:\n{build_extra}")
    project.config.write_text(text)


def test_container_is_confined(project: Project) -> None:
    _hostile(project, FACTS)
    _configure(project, run_extra="  pids: 64\n")
    code, output = project.run("build-and-test", "HEAD")
    assert code == 0, output
    [record] = project.store().runs()
    facts = json.loads(next(Path(record.run_dir, "out").rglob("facts.json")).read_text())
    assert facts["uid"] != 0
    assert not facts["write_image_root"] and not facts["write_slash"]  # read-only image root
    assert facts["write_cwd"]  # ... but the upstream tree it runs from is a writable copy
    assert not facts["network"] and not facts["engine_socket"]
    assert int(facts["cap_eff"], 16) == 0 and facts["no_new_privs"] == "1"
    assert facts["forks"] < 64  # the fork bomb hit the pids limit


@pytest.mark.parametrize(
    ("code", "run_extra", "needle"),
    [
        ("    blob = [bytearray(256 << 20) for _ in range(8)]\n", "  memory_gib: 0.25\n", "oom:"),
        ("    import time as _t\n    _t.sleep(600)\n", "  silence_timeout_s: 3\n", "hang:"),
        ("    raise RuntimeError('CUDA out of memory. Tried to allocate 2.00 GiB')\n", "", "gpu_oom:"),
    ],
)
def test_faults_are_classified_as_infra(project: Project, code: str, run_extra: str, needle: str) -> None:
    sha = _hostile(project, code)
    _configure(project, run_extra=run_extra)
    exit_code, output = project.run("build-and-test", "HEAD")
    assert exit_code == 125, output
    [record] = project.store().runs()
    assert record.verdict is Verdict.ERROR and record.summary.startswith(needle), record.summary
    assert project.containers(sha) == [] and project.image_id(LAST_GOOD) is None


def test_huge_log_is_capped(project: Project) -> None:
    _hostile(project, "    print(('x' * 1023 + chr(10)) * 5 * 1024, flush=True)\n")
    _configure(project, run_extra="  max_log_mib: 1\n")
    code, output = project.run("build-and-test", "HEAD")
    assert code == 0, output
    log = Path(project.store().runs()[0].run_dir, "container.log")
    assert log.stat().st_size < (1 << 20) + 4096 and "log capped at 1 MiB" in log.read_text()


def test_build_hang_hits_the_build_timeout(project: Project) -> None:
    sha = project.commit("good", template())
    recipe = project.folder / "recipe" / "recipe.yaml"
    _configure(project, build_extra="  timeout_s: 10\n")
    project.config.write_text(project.config.read_text().replace("  timeout_s: 900\n", ""))
    recipe.write_text(recipe.read_text() + "pre_install: ['sleep 300']\n")
    code, output = project.run("build-and-test", "HEAD")
    assert code == 125, output
    assert "passed its 10 s limit" in output
    assert project.image_id(sha[:12]) is None
    deadline = time.monotonic() + 60  # the engine cancels the build once its client is gone
    while any(
        "pre-install" in " ".join(c.attrs["Config"]["Cmd"] or [])
        for c in project.engine.client.containers.list(all=True)
    ):
        assert time.monotonic() < deadline, "the hung build's container was not cleaned up"
        time.sleep(1)


def test_a_flaky_case_is_flaky_not_pass(project: Project) -> None:
    _hostile(
        project,
        "    import os as _o\n    _m = _o.path.join(save_path, '.tried')\n"
        "    if not _o.path.exists(_m):\n        open(_m, 'w').close()\n"
        "        raise RuntimeError('flaky failure')\n",
    )
    _configure(project)
    project.config.write_text(
        project.config.read_text().replace("  name: test-suite\n", "  name: test-suite\n  retries: 2\n")
    )
    code, output = project.run("build-and-test", "HEAD")
    assert code == 125, output
    [record] = project.store().runs()
    assert record.verdict is Verdict.FLAKY and "then passed on retry 1" in record.summary
    assert project.image_id(LAST_GOOD) is None


# -- what a commit writes cannot hang or explode the host (issue 13) ------------------------------
FIFO_AT_EXIT = """    import atexit as _a, os as _o
    _r = "/harness/out/results.json"
    _a.register(lambda: (_o.remove(_r), _o.mkfifo(_r)))  # after the runner's last write
"""


def test_results_json_replaced_by_a_fifo_is_a_recorded_fail(project: Project) -> None:
    """It blocked the host forever once the container exited."""
    sha = _hostile(project, FIFO_AT_EXIT)
    _configure(project)
    code, output = project.run("build-and-test", "HEAD")
    assert code == EXIT_FAIL, output
    [record] = project.store().runs()
    assert record.verdict is Verdict.FAIL, record.summary
    assert record.summary == "bad output: results.json is not a regular file (a FIFO)"
    assert project.containers(sha) == []


def test_writing_past_the_output_cap_is_killed_and_fails(project: Project) -> None:
    """3 GiB written into the run folder passed; now the run is killed at run.max_output_gib."""
    _hostile(
        project,
        "    _f = open('/harness/out/big.bin', 'wb')\n"
        "    for _ in range(200):\n        _f.write(bytes(1 << 20)); _f.flush()\n"
        "    import time as _t\n    _t.sleep(240)\n",
    )
    _configure(project, run_extra="  max_output_gib: 0.05\n")
    code, output = project.run("build-and-test", "HEAD")
    assert code == EXIT_FAIL, output
    [record] = project.store().runs()
    assert record.summary.startswith("output:") and "run.max_output_gib" in record.summary, record.summary
    out = Path(record.run_dir, "out")  # what it wrote past the cap does not stay on the disk
    assert sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) < 1 << 20


@pytest.mark.parametrize(
    "code",
    [
        "    raise ValueError('bad checkpoint layout; see https://huggingface.co/org/model')\n",
        "    import urllib.request as _u\n    _u.urlopen('https://huggingface.co/org/model', timeout=5)\n",
    ],
)
def test_a_code_bug_near_weights_is_the_commits_fail(project: Project, code: str) -> None:
    """Reported as 'weights missing' (125): git bisect run skipped the commit that broke."""
    _hostile(project, code)
    _configure(project)
    exit_code, output = project.run("build-and-test", "HEAD")
    assert exit_code == EXIT_FAIL, output
    [record] = project.store().runs()
    assert record.verdict is Verdict.FAIL and "weights missing" not in record.summary, record.summary


def test_a_weight_file_the_definition_names_and_the_cache_lacks_is_infra(project: Project) -> None:
    files = template()
    definition = json.loads(files["defaults/t2v_tiny.json"] or "")
    definition["model"]["URLs"] = ["https://huggingface.co/org/tiny/resolve/main/t2v_tiny_bf16.safetensors"]
    files["defaults/t2v_tiny.json"] = json.dumps(definition)
    wgp = files["wgp.py"] or ""
    files["wgp.py"] = wgp.replace(
        ANCHOR, "    raise FileNotFoundError('ckpts/t2v_tiny_bf16.safetensors')\n" + ANCHOR, 1
    )
    project.commit("needs weights", files)
    _configure(project)
    exit_code, output = project.run("build-and-test", "HEAD")
    assert exit_code == EXIT_SKIP, output
    [record] = project.store().runs()
    assert record.verdict is Verdict.ERROR, record.summary
    assert "weights missing for t2v: t2v_tiny_bf16.safetensors not in the model cache" in record.summary


def test_default_memory_limit_and_bounded_engine_log(project: Project) -> None:
    """No memory limit by default (a test took 19 of 23.5 GiB, PASS); the engine's own log of a
    container grew to 1.1 GB. Every test container now has both bounds."""
    request = RunRequest(
        image=BASE_IMAGE,
        command=("true",),
        labels=(("harness.purpose", "test"),),
        mounts=(),
        environment=(),
        gpu=GpuPlan(mode="none", reason="test"),
        timeout_s=10,
        name=f"harness-limits-{project.repo.rsplit('/', 1)[-1]}",
    )
    host = project.engine.containers.host_config(request)
    total = int(project.engine.client.info()["MemTotal"])
    assert host["Memory"] == int(total * MEMORY_SHARE) == host["MemorySwap"]
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "32m", "max-file": "2"}}
    unlimited = project.engine.containers.host_config(dataclasses.replace(request, limits=Limits(memory_bytes=0)))
    assert unlimited["Memory"] == 0
