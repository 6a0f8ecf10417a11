"""The test bed itself: the guest boots enforcing with the reference policy."""

import pytest

pytestmark = pytest.mark.vm


def test_guest_boots_enforcing(vm):
    result = vm("noop")
    assert result.rc == 0, result.log
    assert result.facts["enforce"] == "Enforcing"
    assert result.facts["context"] == "system_u:system_r:initrc_t:s0"
    assert result.facts["policy"] == "default"
