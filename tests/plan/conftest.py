"""An offline multi-instance host: a real Postfix parent tree and a copy of a real policy store
under one temp root, so the whole plan/apply/undo engine runs on a kernel without SELinux."""

import os
import shutil

import pytest

from tests.postfix.conftest import Tree, cool_config_files, host_postfix_untouched  # noqa: F401
from tests.selinux.conftest import family, pristine_roots  # noqa: F401


def offline_tree(pristine, policy_type):
    # type: (str, str) -> Tree
    """A Tree with the store under ``pristine`` copied under its root and SELinux enforcing in
    its /etc/selinux/config; the child postfix-sub exists with the seed's edits."""
    if os.geteuid() != 0:
        pytest.skip("needs root (postmulti, chown, security.selinux xattrs)")
    tree = Tree()
    for part in ("etc/selinux", "var/lib/selinux"):
        shutil.copytree(os.path.join(pristine, part), os.path.join(tree.root, part),
                        symlinks=True)
    with open(os.path.join(tree.root, "etc/selinux/config"), "w") as handle:
        handle.write("SELINUX=enforcing\nSELINUXTYPE={}\n".format(policy_type))
    tree.manager.create("postfix-sub")
    tree.state = os.path.join(tree.root, "var/lib/postmulti-selinux")
    return tree


@pytest.fixture
def offline_host(family):  # noqa: F811 - pytest fixture injection
    """offline_tree on policy ``family``."""
    tree = offline_tree(family["pristine"], family["type"])
    tree.family = family
    yield tree
    tree.remove()
