"""Shared test fixtures: paths of the repository and of ../shared (read by path, never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The tests build models and load datasets by their registered names, as the tools do.
import ava_detector.builtin_datasets  # noqa: F401
import ava_detector.builtin_models  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared: required under CI=true, skipped with a reason elsewhere (a user's clone has none)."""
    if not SHARED.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the shared reference folder {SHARED} is missing")
        pytest.skip(f"reference data folder {SHARED} not present (only in the developers' checkout)")
    return SHARED
