"""Shared test settings.

The real job definitions live outside the repository (they are other people's files): tests find
them through one setting, ``DBJOBS_CORPUS`` (default ``../shared/corpus/jobs`` beside the checkout).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(os.environ.get("DBJOBS_CORPUS", str(REPO_ROOT.parent / "shared" / "corpus" / "jobs"))).resolve()
#: Real multi-file bundles (one folder each, ``databricks.yml`` at its root), read in place, never copied.
BUNDLE_CORPUS_DIR = Path(
    os.environ.get("DBJOBS_BUNDLE_CORPUS", str(REPO_ROOT.parent / "shared" / "corpus" / "bundles"))
).resolve()


def corpus_files() -> list[Path]:
    """Every job definition in the corpus (INDEX.md excluded), sorted by name; [] when the corpus is absent."""
    if not CORPUS_DIR.is_dir():
        return []
    return sorted(p for p in CORPUS_DIR.iterdir() if p.is_file() and p.suffix in {".json", ".yaml", ".yml"})


def bundle_corpus() -> list[Path]:
    """The root file of every bundle in the bundle corpus, sorted; [] when it is absent."""
    if not BUNDLE_CORPUS_DIR.is_dir():
        return []
    return sorted(p / "databricks.yml" for p in BUNDLE_CORPUS_DIR.iterdir() if (p / "databricks.yml").is_file())


@pytest.fixture(scope="session")
def bundle_corpus_dir() -> Path:
    """The bundle corpus directory; fails (never skips) naming ``DBJOBS_BUNDLE_CORPUS`` when it is absent."""
    if not BUNDLE_CORPUS_DIR.is_dir():
        pytest.fail(
            f"the bundle corpus is absent: DBJOBS_BUNDLE_CORPUS={BUNDLE_CORPUS_DIR} does not exist "
            "(set DBJOBS_BUNDLE_CORPUS or check out ../shared beside the repository)"
        )
    return BUNDLE_CORPUS_DIR


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The corpus directory; fails (never skips) with the setting's name when it is absent."""
    if not CORPUS_DIR.is_dir():
        pytest.fail(
            f"the real job corpus is absent: DBJOBS_CORPUS={CORPUS_DIR} does not exist "
            "(set DBJOBS_CORPUS or check out ../shared beside the repository)"
        )
    return CORPUS_DIR
