"""Fixtures for the curvature tests (the objectives themselves live in curv_models.py)."""

import pytest
from curv_models import LogisticObjective, TinyAttentionObjective


@pytest.fixture(scope="module")
def tiny():
    return TinyAttentionObjective()


@pytest.fixture(scope="module")
def logistic():
    return LogisticObjective()
