"""Shared fixtures: every test runs seeded and without a user's profile override."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("DLBOOK_PROFILE", raising=False)
    monkeypatch.delenv("DLBOOK_RESULTS", raising=False)
    monkeypatch.setenv("DLBOOK_PROGRESS", "0")
    torch.manual_seed(0)
