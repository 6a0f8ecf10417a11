"""The on-disk index of domain rules: a warm run answers like a cold one without reading the
policy, a changed policy never reads a stale index, and untrusted or broken files are ignored."""

import json
import os
import shutil

from postmulti_selinux.avc.analysis import analyse
from postmulti_selinux.avc.index_cache import IndexCache
from postmulti_selinux.avc.policy import open_policy
from tests.avc.conftest import fixture_path


def explain(policy, files=("constructed_cases.log", "seed_audit.log")):
    found = analyse(policy, files=[fixture_path(f) for f in files]).findings
    return [(f.kind, f.source, f.target, f.tclass, f.perms, f.reason) for f in found]


def loaded(policy):
    return getattr(policy, "_loaded", True) is not None


def test_warm_run_answers_alike_without_loading_the_policy(debian, backend, tmp_path):
    cold = open_policy(debian.policy, backend, cache=str(tmp_path))
    first = explain(cold)
    (index,) = os.listdir(str(tmp_path))
    assert index.endswith("-{}-v1.json".format(backend))
    warm = open_policy(debian.policy, backend, cache=str(tmp_path))
    assert explain(warm) == first
    if backend == "setools":
        assert loaded(cold) and not loaded(warm)
    assert explain(open_policy(debian.policy, backend, cache=False)) == first


def test_each_policy_has_its_own_index(debian, el9, tmp_path):
    explain(open_policy(debian.policy, "setools", cache=str(tmp_path)))
    explain(open_policy(el9.policy, "setools", cache=str(tmp_path)))
    assert len(os.listdir(str(tmp_path))) == 2
    # a policy file rewritten in place gets a new index (named by its content)
    copy = str(tmp_path / "policy.copy")
    shutil.copy(el9.policy, copy)
    before = IndexCache(copy, "setools", str(tmp_path / "x")).path
    with open(copy, "ab") as handle:
        handle.write(b"\0")
    assert IndexCache(copy, "setools", str(tmp_path / "x")).path != before


def test_untrusted_or_broken_index_is_ignored(debian, tmp_path):
    first = explain(open_policy(debian.policy, "setools", cache=str(tmp_path)))
    (name,) = os.listdir(str(tmp_path))
    path = str(tmp_path / name)
    with open(path) as handle:
        data = json.load(handle)
    data["domains"]["postfix_master_t"] = []        # a forged index would hide every rule
    with open(path, "w") as handle:
        json.dump(data, handle)
    os.chmod(path, 0o666)
    again = open_policy(debian.policy, "setools", cache=str(tmp_path))
    assert explain(again) == first and loaded(again)
    with open(path, "w") as handle:
        handle.write("{not json")
    os.chmod(path, 0o644)
    assert explain(open_policy(debian.policy, "setools", cache=str(tmp_path))) == first
    os.chmod(str(tmp_path), 0o777)                 # a directory anyone may write to
    try:
        third = open_policy(debian.policy, "setools", cache=str(tmp_path))
        assert explain(third) == first and loaded(third)
    finally:
        os.chmod(str(tmp_path), 0o755)
