"""Scenario 40 on the EL7-era policy (policy.31), without python3's semanage and setools bindings; the checks are in scenario40_checks.py."""

import pytest

from tests.vm.scenario40_checks import *  # noqa: F401,F403 - the shared test functions
from tests.vm.scenario40_checks import boot, cannot_start_never_leaves_the_parent_down

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def run(vm):
    return boot(vm, "el7")


def test_a_child_that_cannot_start_never_leaves_the_parent_down(run):
    cannot_start_never_leaves_the_parent_down(run)
