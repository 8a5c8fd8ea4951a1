"""Shared fixtures: small generated trip files and their cleaned canonical frames."""

from __future__ import annotations

import pytest

from labhelpers.sample import write_sample


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory):
    """A 6,000-row generated yellow-taxi CSV in the Azure Open Datasets schema (dirty rows included)."""
    return write_sample(tmp_path_factory.mktemp("data") / "trips.csv", n_rows=6000, seed=11)


@pytest.fixture(scope="session")
def clean_frame(sample_csv):
    """The sample loaded, normalised and cleaned with coordinates required (usable by both steps)."""
    from labhelpers.cleaning import clean_trips
    from labhelpers.data import load_trips

    frame, _ = clean_trips(load_trips(sample_csv, progress=False).frame, require_coordinates=True)
    return frame
