"""Shared test fixtures: where the real reference data lives, and a scratch directory per test."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PRICES_DIR = SHARED_DATA / "prices"


@pytest.fixture(scope="session")
def prices_dir() -> Path:
    """The real per-ticker price CSVs in ``../shared/data/prices``."""
    if not PRICES_DIR.is_dir():
        pytest.fail(f"reference data not found at {PRICES_DIR}: clone the project beside shared/")
    return PRICES_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
