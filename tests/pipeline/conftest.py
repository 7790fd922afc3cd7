from __future__ import annotations

import pytest
from tests_support import tiny_suite_dict


@pytest.fixture
def tiny_suite() -> dict:
    return tiny_suite_dict()
