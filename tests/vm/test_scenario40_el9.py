"""Scenario 40 on the EL9 targeted policy (policy.33); the checks are in scenario40_checks.py."""

import pytest

from tests.vm.scenario40_checks import *  # noqa: F401,F403 - the shared test functions
from tests.vm.scenario40_checks import boot

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def run(vm):
    return boot(vm, "el9")
