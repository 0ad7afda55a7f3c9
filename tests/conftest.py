"""Shared fixtures. The real embedding model is loaded once for the whole run."""

from __future__ import annotations

import pytest

from bot.core.corpus import Corpus, load_corpus


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return load_corpus()


@pytest.fixture(scope="session")
def embedder():
    """The real bundled all-MiniLM-L6-v2 model, loaded once per test session."""
    from bot.embeddings import Embedder

    model = Embedder()
    model.load()
    return model
