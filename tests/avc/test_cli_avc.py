"""The ``avc`` subcommand, registered on a guarded click group as cli/main.py will do."""

import json

import click
import pytest
from click.testing import CliRunner

from postmulti_selinux.cli.avc import register
from postmulti_selinux.cli.errors import GuardedGroup
from tests.avc.conftest import fixture_path


@click.group(cls=GuardedGroup)
def group():
    """Stand-in for postmulti-selinux."""


register(group)


def run(*args):
    return CliRunner().invoke(group, ["avc"] + list(args))


def test_seed_explained_as_mislabel_json(debian):
    result = run("--input", fixture_path("seed_audit.log"), "--json", "--policy", debian.policy,
                 "--file-contexts", debian.file_contexts, "--policy-type", "default")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(f["kind"] for f in data["findings"]) == {"mislabel"}
    assert data["module"] is None and data["stats"]["avc"] == 12


def test_module_written_not_installed(debian, tmp_path):
    result = run("--input", fixture_path("constructed_cases.log"), "--module", "postmulti_avc",
                 "--output-dir", str(tmp_path), "--policy", debian.policy,
                 "--file-contexts", debian.file_contexts, "--policy-type", "default")
    assert result.exit_code == 0, result.output
    assert "[role]" in result.output and "written, not installed" in result.output
    assert (tmp_path / "postmulti_avc.pp").exists() and (tmp_path / "postmulti_avc.te").exists()


@pytest.mark.parametrize("args, message", [
    (["--install"], "--install needs --module"),
    (["--input", "/nonexistent/audit.log"], "audit log not found"),
    (["--since", "someday"], "cannot understand time"),
    (["--domain", "x;y"], "invalid domain"),
])
def test_bad_input_is_one_line_error(debian, args, message):
    result = run("--policy", debian.policy, "--file-contexts", debian.file_contexts,
                 "--policy-type", "default", "--input", fixture_path("seed_audit.log"), *args) \
        if "--input" not in args else run("--policy", debian.policy, "--file-contexts",
                                          debian.file_contexts, "--policy-type", "default", *args)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_install_goes_through_one_transaction_and_rerun_is_noop(debian, tmp_path):
    from postmulti_selinux.avc.build import copy_store, read_installed
    from postmulti_selinux.selinux import PolicyRoot
    root = copy_store("/", "default", str(tmp_path / "root"))
    policy_root = PolicyRoot(root, "default")
    args = ["--input", fixture_path("constructed_cases.log"), "--module", "pmavc_cli", "--install",
            "--root", root, "--output-dir", str(tmp_path), "--json"]
    before = policy_root.commit_number()
    first = run(*args)
    assert first.exit_code == 0, first.output
    module = json.loads(first.output)["module"]
    assert module["installed"] and module["rebuilds"] == 1
    assert policy_root.commit_number() == before + 1
    installed = read_installed("pmavc_cli", "default", root)
    assert installed.version == module["version"]
    assert ("postfix_master_t", "postfix_etc_t", "dir", ("setattr",)) in installed.rules
    again = run(*args)
    assert again.exit_code == 0, again.output
    module2 = json.loads(again.output)["module"]
    assert module2["unchanged"] and not module2["installed"] and module2["rebuilds"] == 0
    assert policy_root.commit_number() == before + 1
    text = run(*args[:-1])
    assert "unchanged (already installed)" in text.output


def test_verbose_says_how_the_log_and_policy_were_read(debian, tmp_path, monkeypatch):
    monkeypatch.setenv("POSTMULTI_SELINUX_CACHE_DIR", str(tmp_path))
    args = ["--input", fixture_path("seed_audit.log"), "--verbose", "--policy", debian.policy,
            "--file-contexts", debian.file_contexts, "--policy-type", "default"]
    first, second = run(*args), run(*args)
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    assert "1 of 1 file(s) read by the fast raw-log scanner (native walker;" in first.output
    monkeypatch.setattr("postmulti_selinux.avc.scan._fastscan", None)
    assert "scanner (pure-Python pattern;" in run(*args).output
    assert "via setools" in first.output or "via sesearch" in first.output
    assert ": 0 answers from it" in first.output and str(tmp_path) in first.output
    assert ", 0 read from the policy" in second.output
