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
                 "--file-contexts", debian.file_contexts, "--store", "default")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(f["kind"] for f in data["findings"]) == {"mislabel"}
    assert data["module"] is None and data["stats"]["avc"] == 12


def test_module_written_not_installed(debian, tmp_path):
    result = run("--input", fixture_path("constructed_cases.log"), "--module", "postmulti_avc",
                 "--output-dir", str(tmp_path), "--policy", debian.policy,
                 "--file-contexts", debian.file_contexts, "--store", "default")
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
                 "--store", "default", "--input", fixture_path("seed_audit.log"), *args) \
        if "--input" not in args else run("--policy", debian.policy, "--file-contexts",
                                          debian.file_contexts, "--store", "default", *args)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output
