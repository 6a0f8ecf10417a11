"""The ``labels`` subcommand on an offline root."""

import json

import click
from click.testing import CliRunner

from postmulti_selinux.cli.errors import GuardedGroup
from postmulti_selinux.cli.labels import register
from tests.selinux.conftest import make_tree


def _group():
    @click.group(cls=GuardedGroup)
    def cli():
        pass
    register(cli)
    return cli


def test_labels_json_reports_differences(writable_root, family):
    make_tree(writable_root, ["/var/spool/postfix/public/", "/var/spool/postfix-sub/public/"])
    result = CliRunner().invoke(_group(), [
        "labels", "--root", writable_root.root, "--policy-type", writable_root.policy_type,
        "--dir", "/var/spool/postfix=/var/spool/postfix-sub", "--port", "10025", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    public = [p for p in data["paths"] if p["path"] == "/var/spool/postfix-sub/public"][0]
    assert public["expected"].split(":")[2] == "postfix_public_t" and public["current"] is None
    assert data["ports"][0]["port_type"] == "amavisd_send_port_t" and data["ports"][0]["bindable"]


def test_labels_bad_input_is_one_line(readonly_root):
    result = CliRunner().invoke(_group(), [
        "labels", "--root", readonly_root.root, "--policy-type", readonly_root.policy_type, "--dir", "/var/spool/postfix", "--json"])
    assert result.exit_code == 1
    assert "PARENT=CHILD" in result.output and "Traceback" not in result.output
