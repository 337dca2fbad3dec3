"""Deps locks: the resolution applied to a freeze, distances, the closest base, the sync check."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.lock import Candidate, Lock, changes, closest, distance, lock_summary, mismatch, resolved
from harness.report import lock_lines
from harness.uvopts import uv_options

FREEZE = "pip==23.0.1\nsetuptools==66.1.1\ntorch==2.13.0+cpu\nnumpy==1.26.4\n"
DRY_RUN = """\
Using Python 3.11.2 environment at: /opt/venv
Resolved 6 packages in 167ms
Would download 3 packages
Would uninstall 1 package
Would install 3 packages
 - numpy==1.26.4
 + numpy==2.1.0
 + av==18.1.0
 + PyYAML==6.0.2
"""


def test_the_lock_is_the_freeze_changed_as_the_dry_run_says() -> None:
    lock = resolved(FREEZE, DRY_RUN)
    assert lock.text == (
        "av==18.1.0\nnumpy==2.1.0\npip==23.0.1\npyyaml==6.0.2\nsetuptools==66.1.1\ntorch==2.13.0+cpu\n"
    )  # sorted by canonical name; the env's torch (a wheelhouse build) kept as installed


def test_nothing_to_install_leaves_the_freeze() -> None:
    assert resolved(FREEZE, "Resolved 2 packages in 3ms\nAudited 2 packages in 1ms\n") == Lock.parse(FREEZE)
    assert resolved(FREEZE, "") == Lock.parse(FREEZE)


def test_names_are_compared_canonically_and_urls_are_pins() -> None:
    lock = resolved(
        "PyYAML==6.0.1\nZope.Interface==7\n", " - pyyaml==6.0.1\n + PyYAML==6.0.2\n + Tool @ https://x.invalid/t.whl\n"
    )
    assert lock.as_dict() == {
        "pyyaml": "pyyaml==6.0.2",
        "tool": "tool @ https://x.invalid/t.whl",
        "zope-interface": "zope-interface==7",
    }
    assert Lock.parse("# comment\n--only-binary :all:\nloose>=1\n\n") == Lock(pins=())  # only exact pins count


def test_distance_counts_each_differing_package_once() -> None:
    a = Lock.parse("a==1\nb==1\nc==1\n")
    assert distance(a, a) == 0
    assert distance(a, Lock.parse("a==1\nb==2\nc==1\n")) == 1  # an upgrade is one package
    assert distance(a, Lock.parse("a==1\nb==1\n")) == 1  # a removal
    assert distance(a, Lock.parse("a==1\nb==1\nc==1\nd==1\n")) == 1  # an addition
    assert distance(a, Lock.parse("x==1\n")) == 4


def test_closest_takes_the_fewest_differences_then_the_env_then_the_smaller_key() -> None:
    target = Lock.parse("a==1\nb==2\nc==1\n")
    env = Candidate(key="", image="env", lock=Lock.parse("a==1\n"))
    near = Candidate(key="k2", image="d2", lock=Lock.parse("a==1\nb==1\nc==1\n"))
    tie = Candidate(key="k1", image="d1", lock=Lock.parse("a==1\nb==1\nc==1\n"))
    assert closest(target, [env, near, tie]) == tie  # one differing package; on a tie the smaller key
    assert closest(Lock.parse("a==1\nz==1\n"), [near, env]) == env  # env: 1 away, the deps images 3
    same = Candidate(key="k3", image="d3", lock=Lock.parse("a==1\nz==1\n"))
    assert closest(Lock.parse("a==1\n"), [same, env]) == env  # a tie with the env: no deeper chain
    assert closest(target, []) is None


def test_mismatch_names_extras_missing_and_other_versions() -> None:
    lock = Lock.parse("a==1\nb==2\n")
    assert mismatch(lock, "a==1\nB==2\n") == ()
    assert mismatch(lock, "a==1\nb==3\nextra==1\n") == ("extra extra==1", "b==2 but b==3")
    assert mismatch(lock, "a==1\n") == ("missing b==2",)


def test_lock_summary_says_what_changed_from_the_base() -> None:
    lock = Lock.parse("a==1\nb==2\nd==1\n")
    assert lock_summary(lock) == "3 packages"
    assert lock_summary(lock, Lock.parse("a==1\nb==1\nc==1\n").as_dict()) == "3 packages; from its base: +d -c ~b"


def test_pip_options_become_uvs() -> None:
    uv = uv_options(
        ["--extra-index-url", "https://download.pytorch.org/whl/cu128", "--retries=5", "--timeout 60", "--pre"],
        "recipe.yaml",
    )
    assert uv.args == (
        "--extra-index-url",
        "https://download.pytorch.org/whl/cu128",
        "--prerelease",
        "allow",
        "--index-strategy",
        "unsafe-best-match",  # pip's best-version-across-indexes, not uv's first-index
    )
    assert uv.env == (("UV_HTTP_RETRIES", "5"), ("UV_HTTP_TIMEOUT", "60"))
    assert "export UV_HTTP_RETRIES=5\n" in uv.env_script()
    assert "SSL_CERT_FILE=/opt/harness/ca.pem" in uv.env_script()  # the host's CA bundle, when given
    assert uv_options(["--no-cache-dir", "--progress-bar", "off"], "x").args == ()  # meaningless for uv


@pytest.mark.parametrize(
    ("options", "needle"), [(["--user"], "'--user' has no uv equivalent; allowed: "), (["--retries"], "needs a value")]
)
def test_a_pip_option_uv_cannot_take_is_refused_naming_it(options: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as refused:
        uv_options(options, "images/cpu/recipe.yaml")
    assert "images/cpu/recipe.yaml: pip_options: " in str(refused.value) and needle in str(refused.value)


def test_show_says_the_lock_of_a_runs_image() -> None:
    labels = {"harness.lock": "numpy==2\nav==1\n", "harness.deps-base": "b" * 64, "harness.deps-key": "k" * 64}
    assert lock_lines(labels, full=False) == [
        f"deps lock: 2 packages (delta from deps {'b' * 16}, deps key {'k' * 16}); --lock lists them"
    ]
    assert lock_lines(labels, full=True)[1:] == ["  av==1", "  numpy==2"]
    clean = {"harness.lock": "av==1\n", "harness.deps-base": "", "harness.deps-build": "fallback"}
    assert lock_lines(clean, full=False)[0].startswith("deps lock: 1 packages (fallback from the env image")
    assert lock_lines({}, full=False) == ["deps lock: none (a deps image built before harness locked them)"]
    assert "not known" in lock_lines(None, full=False)[0]


def test_on_a_tie_the_base_with_fewer_installs_wins_a_removal_is_cheap() -> None:
    target = Lock.parse("numpy==2\npip==23\n")  # av removed from the requirements
    env = Candidate(key="", image="env", lock=Lock.parse("pip==23\n"))  # one away: numpy to install
    deps = Candidate(key="k", image="d", lock=Lock.parse("av==1\nnumpy==2\npip==23\n"))  # one away: av to remove
    assert closest(target, [env, deps]) == deps


def test_changes_touch_only_what_differs() -> None:
    base = Lock.parse("a==1\nb==1\nc==1\n")
    install, remove = changes(base, Lock.parse("a==1\nb==2\nd==1\n"))
    assert install.text == "b==2\nd==1\n" and remove == ("c",)
    assert changes(base, base) == (Lock(pins=()), ())
