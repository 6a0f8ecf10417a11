"""Scenario 40 on the EL7-era policy (policy.31), without python3's semanage and setools bindings; the checks are in scenario40_checks.py."""

import pytest

from tests.vm.scenario40_checks import *  # noqa: F401,F403 - the shared test functions
from tests.vm.scenario40_checks import boot

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def run(vm):
    return boot(vm, "el7")
