"""promote / rollback / reconcile / deploy / gc / status on the real engine."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import docker.errors
import pytest

from harness.adapters.git_repo import write_commits
from harness.errors import EXIT_FAIL, EXIT_USAGE
from harness.naming import PRODUCTION
from harness.sample.make import broken_import, knob, template
from tests.conftest import BASE_IMAGE, write_config
from tests.integration.conftest import Project

pytestmark = pytest.mark.integration

FAULT_LAUNCHER = Path(__file__).with_name("fault_launcher.py")  # harness with a fault point that parks


def _tested(project: Project, n_good: int = 3) -> tuple[list[str], str]:
    """n_good passing commits (code-only changes) and one failing commit, all built and tested."""
    wgp = template()["wgp.py"] or ""
    good = [project.commit("good 0", template())]
    good += [project.commit(f"good {i}", {"wgp.py": f"{wgp}\n# change {i}\n"}) for i in range(1, n_good)]
    bad = project.commit("stuff", {"wgp.py": broken_import(wgp)})
    for sha in good:
        assert project.run("build-and-test", sha)[0] == 0
    assert project.run("build-and-test", bad)[0] == 1
    return good, bad


def _production(project: Project) -> str | None:
    return project.image_id(PRODUCTION)


def test_promote_pass_moves_production_and_refuses_the_rest(project: Project) -> None:
    good, bad = _tested(project, 1)
    code, output = project.run("promote", good[0], "--reason", "first")
    assert code == 0, output
    assert _production(project) == project.image_id(good[0][:12])
    assert [r.revision for r in project.store().releases()] == [1]
    # FAIL and untested: refused, nothing moves.
    code, output = project.run("promote", bad)
    assert code == 1 and "is FAIL" in output
    untested = project.commit("untested", {"README.md": "x\n"})
    code, output = project.run("promote", untested)
    assert code == 1 and "no tested image" in output
    assert _production(project) == project.image_id(good[0][:12])
    assert len(project.store().releases()) == 1
    # --force needs a reason and is recorded as forced.
    assert project.run("promote", bad, "--force")[0] == EXIT_USAGE
    code, output = project.run("promote", bad, "--force", "--reason", "hotfix needs it")
    assert code == 0, output
    forced = project.store().releases()[-1]
    assert forced.forced and "hotfix needs it" in forced.reason and "forced past" in forced.reason
    code, output = project.run("releases", "--json")
    assert code == 0 and [r["revision"] for r in json.loads(output)] == [1, 2]
    code, output = project.run("status", "--json")
    status = json.loads(output)
    assert code == 0 and status["production"]["revision"] == 2 and status["upstream_head"]["sha"] == untested


def test_rollback_walks_back_and_refuses_when_the_image_is_gone(project: Project) -> None:
    good, _ = _tested(project, 3)
    for sha in good:
        code, output = project.run("promote", sha)
        assert code == 0, output
    ids = [project.image_id(sha[:12]) for sha in good]
    assert project.run("rollback")[0] == 0
    assert _production(project) == ids[1]
    assert project.run("rollback")[0] == 0
    assert _production(project) == ids[0]
    releases = project.store().releases()
    assert [(r.revision, r.action) for r in releases][-2:] == [(4, "rollback"), (5, "rollback")]
    # Remove revision 3's image (C): rollback --to 3 must refuse and leave production alone.
    assert ids[2] is not None
    project.engine.client.images.remove(ids[2], force=True)  # every tag of it, last-good included
    code, output = project.run("rollback", "--to", "3")
    assert code == 1 and "no longer exists" in output and "revisions whose images exist" in output
    assert _production(project) == ids[0]
    assert len(project.store().releases()) == 5


def test_kill_between_store_write_and_retag_is_repaired_by_reconcile(project: Project) -> None:
    good, _ = _tested(project, 2)
    assert project.run("promote", good[0])[0] == 0
    proc = subprocess.Popen(
        [sys.executable, str(FAULT_LAUNCHER), "after-store-write", "-c", str(project.config), "promote", good[1]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "fault point after-store-write reached" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    store_says = project.store().production()
    assert store_says is not None and store_says.revision == 2
    assert _production(project) == project.image_id(good[0][:12])  # the tag lags the store
    code, output = project.run("reconcile")
    assert code == 0 and "repaired" in output
    assert _production(project) == store_says.image_id == project.image_id(good[1][:12])


def test_concurrent_promotes_each_get_a_revision_in_order(project: Project) -> None:
    good, _ = _tested(project, 3)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "harness", "-c", str(project.config), "promote", sha],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for sha in good
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    releases = project.store().releases()
    assert [r.revision for r in releases] == [1, 2, 3]
    assert {r.image_id for r in releases} == {project.image_id(sha[:12]) for sha in good}
    # Each release's from_image is the one before it: the history never interleaved.
    assert [r.from_image_id for r in releases[1:]] == [r.image_id for r in releases[:-1]]
    assert _production(project) == releases[-1].image_id


def test_deploy_failing_health_rolls_back_and_old_image_serves(project: Project, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    write_config(
        tmp_path,
        upstream=project.upstream,
        repo=project.repo,
        run_extra=f"  model_cache: {models}\n",
        deploy=f"deploy:\n  service: worker-cpu\n  project: {project.repo.replace('/', '-')}\n"
        "  health_timeout_s: 120\n",
    )
    good, bad = _tested(project, 2)
    name = f"{project.repo.replace('/', '-')}-worker-cpu"
    try:
        code, output = project.run("promote", good[0], "--deploy")
        assert code == 0 and "healthy" in output, output
        code, output = project.run("promote", bad, "--force", "--reason", "try it", "--deploy")
        assert code == 1, output
        assert "rolled back automatically" in output and "service healthy again" in output
        actions = [r.action for r in project.store().releases()]
        assert actions == ["promote", "promote", "auto-rollback"]
        container = project.engine.client.containers.get(name)
        assert container.image is not None and container.image.id == project.image_id(good[0][:12])
        assert container.attrs["State"]["Health"]["Status"] == "healthy"
        assert _production(project) == project.image_id(good[0][:12])
        # A later rollback passes over revision 2: it failed its health check (and is a FAIL image).
        assert project.run("promote", good[1])[0] == 0
        code, output = project.run("rollback")
        assert code == 0, output
        assert "skipped revision 2: its image failed its health check and was rolled back by revision 3" in output
        assert _production(project) == project.image_id(good[0][:12])
    finally:
        project.engine.client.containers.get(name).remove(force=True)


def test_gc_keeps_what_it_must_and_dry_run_removes_nothing(project: Project) -> None:
    good, bad = _tested(project, 4)
    assert project.run("promote", good[0])[0] == 0
    before = {sha: project.image_id(sha[:12]) for sha in [*good, bad]}
    code, output = project.run("gc", "--keep", "1", "--dry-run")
    assert code == 0 and "would remove image" in output
    assert {sha: project.image_id(sha[:12]) for sha in before} == before
    code, output = project.run("gc", "--keep", "1")
    assert code == 0, output
    after = {sha: project.image_id(sha[:12]) for sha in before}
    assert after[good[0]] == before[good[0]]  # production
    assert after[good[3]] == before[good[3]]  # last-good
    assert after[bad] == before[bad]  # newest commit image
    assert after[good[1]] is None and after[good[2]] is None


def _deps_like(project: Project, state: str, key: str, *, base: str, built_from: str, tag: str = "") -> str:
    """A deps-like image of `state`: a container of image `base`, committed with a deps image's
    labels (`built_from`: the key its harness.deps-base names); untagged unless `tag`."""
    client = project.engine.client
    container = client.containers.create(base, command="true", labels={"harness.test": "gc-chain"})
    try:
        labels = {"harness.state": state, "harness.stage": "deps", "harness.key": key, "harness.deps-base": built_from}
        change = "LABEL " + " ".join(f'{k}="{v}"' for k, v in labels.items())
        repository = f"{project.repo}-deps" if tag else None
        return str(container.commit(repository=repository, tag=tag or None, changes=[change]).id)
    finally:
        container.remove(force=True)


def test_gc_removes_a_delta_chain_nothing_keeps_in_one_run_and_keeps_a_base_a_delta_names(project: Project) -> None:
    store = project.store()
    state = store.state_id()
    store.close()
    made: list[str] = []
    try:
        # a <- b <- c (untagged) and a <- t (tagged), each a `docker commit` of a container of the one
        # before: the engine records the parent, and does not list an untagged image with children.
        made.append(a := _deps_like(project, state, "a" * 64, base=BASE_IMAGE, built_from=""))
        made.append(b := _deps_like(project, state, "b" * 64, base=a, built_from="a" * 64))
        made.append(c := _deps_like(project, state, "c" * 64, base=b, built_from="b" * 64))
        made.append(t := _deps_like(project, state, "d" * 64, base=a, built_from="a" * 64, tag="dddd"))
        # n: a delta whose base o the engine knows nothing of (no parent recorded): only the label.
        made.append(o := _deps_like(project, state, "e" * 64, base=BASE_IMAGE, built_from=""))
        made.append(n := _deps_like(project, state, "f" * 64, base=BASE_IMAGE, built_from="e" * 64, tag="ffff"))
        code, output = project.run("gc", "--dry-run")
        assert code == 0, output
        assert f"would remove untagged deps image ({c[7:19]}, deps {'c' * 12})" in output, output
        assert f"kept untagged deps image ({o[7:19]}, deps {'e' * 12}): base of deps {'f' * 12} (delta chain)" in output
        code, output = project.run("gc")
        assert code == 0 and "not removed" not in output, output
        present = {i: project.engine.images.image_id(i) is not None for i in (a, b, c, t, o, n)}
        # c went, and b with it (the engine prunes an untagged parent left without children);
        # a stays under t, o under n (the label alone).
        assert present == {a: True, b: False, c: False, t: True, o: True, n: True}, output
    finally:
        for image_id in reversed(made):
            with contextlib.suppress(docker.errors.APIError):
                project.engine.client.images.remove(image_id, force=True)


def test_pin_points_the_gitlink_at_production(project: Project, tmp_path: Path) -> None:
    good, _ = _tested(project, 1)
    assert project.run("promote", good[0])[0] == 0
    checkout = tmp_path / "wrapper"
    write_commits(checkout, [("wrapper", {"README.md": "wrapper\n"})])
    code, output = project.run("pin", "--repo", str(checkout))
    assert code == 0, output
    staged = subprocess.run(
        ["git", "ls-files", "-s", "Wan2GP"], cwd=checkout, capture_output=True, text=True, check=True
    ).stdout
    assert staged.startswith(f"160000 {good[0]} ")
    assert good[0] in (checkout / "STRUCTURE.md").read_text()


def test_promote_waits_for_the_lock_then_fails_clearly(project: Project, tmp_path: Path) -> None:
    from filelock import FileLock

    write_config(tmp_path, upstream=project.upstream, repo=project.repo, deploy="deploy:\n  lock_wait_s: 1\n")
    good, _ = _tested(project, 1)
    with FileLock(str(project.folder / ".harness" / "production.lock")):
        proc = subprocess.run(
            [sys.executable, "-m", "harness", "-c", str(project.config), "promote", good[0]],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 125, proc.stdout + proc.stderr
    assert "another harness process is moving production" in proc.stderr
    assert project.store().releases() == []


def test_promote_needs_a_pass_at_the_configured_level(project: Project, tmp_path: Path) -> None:
    flat = project.commit("flat video", {**template(), "wgp.py": knob(template()["wgp.py"] or "", "FLAT_OUTPUT", True)})
    assert project.run("build-and-test", flat)[0] == EXIT_FAIL  # baseline FAIL: the video is constant
    assert project.run("build-and-test", flat, "--level", "smoke")[0] == 0  # smoke only imports
    code, output = project.run("promote", flat)
    assert code == EXIT_FAIL, output
    assert "baseline" in output and "FAIL" in output and "video is constant" in output
    assert project.store().releases() == []
    code, output = project.run("promote", flat, "--force", "--reason", "smoke is enough today")
    assert code == 0, output
    [release] = project.store().releases()
    assert release.forced and "smoke is enough today" in release.reason
    # A config asking only for smoke: the newest smoke-or-deeper record is the smoke PASS.
    other = project.commit("flat again", {"README.md": "x\n"})
    assert project.run("build-and-test", other, "--level", "smoke")[0] == 0
    write_config(tmp_path, upstream=project.upstream, repo=project.repo, deploy="promote:\n  requires_level: smoke\n")
    code, output = project.run("promote", other)
    assert code == 0, output
    assert not project.store().releases()[-1].forced


def test_rollback_skips_releases_known_to_be_bad(project: Project) -> None:
    good, bad = _tested(project, 2)
    assert project.run("promote", good[0])[0] == 0  # revision 1
    assert project.run("promote", bad, "--force", "--reason", "hotfix")[0] == 0  # 2: a forced FAIL image
    assert project.run("promote", good[1])[0] == 0  # 3
    code, output = project.run("rollback")
    assert code == 0, output
    assert _production(project) == project.image_id(good[0][:12])
    assert "skipped revision 2" in output and "is FAIL" in output, output
    # Onto the FAIL release only with --force --reason, and recorded as forced.
    code, output = project.run("rollback", "--to", "2")
    assert code == EXIT_FAIL and "--force --reason" in output, output
    assert project.run("rollback", "--to", "2", "--force")[0] == EXIT_USAGE  # --force needs --reason
    assert _production(project) == project.image_id(good[0][:12])
    code, output = project.run("rollback", "--to", "2", "--force", "--reason", "need the hotfix back")
    assert code == 0, output
    last = project.store().releases()[-1]
    assert (last.revision, last.image_id, last.forced) == (5, project.image_id(bad[:12]), True)
    assert "need the hotfix back" in last.reason
