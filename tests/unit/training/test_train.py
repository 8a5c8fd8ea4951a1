"""Both training steps fit seeded models and report honest held-out metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression, Ridge

from labhelpers.foundation.errors import TrainingError
from labhelpers.training.train import regression_metrics, train_supervised, train_unsupervised


def test_regression_metrics_on_known_values():
    metrics = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert metrics["mae"] == pytest.approx(2 / 3)
    assert metrics["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert metrics["r2"] == pytest.approx(1 - 4 / 2)


def test_supervised_fits_fares_well_and_is_seeded(clean_frame):
    first = train_supervised(clean_frame, alpha=0.5, seed=3)
    again = train_supervised(clean_frame, alpha=0.5, seed=3)
    assert set(first.models) == {"linear_regression", "ridge_regression"}
    assert first.metrics == again.metrics
    assert first.metrics["linear_regression"]["r2"] >= 0.9
    ridge = first.models["ridge_regression"]
    assert isinstance(ridge, Ridge) and ridge.alpha == 0.5
    assert first.parameters == {"alpha": 0.5, "test_size": 0.2, "random_seed": 3}
    assert first.extra["rows_test"] == pytest.approx(0.2 * len(clean_frame), abs=1)


def test_fewer_features_fit_worse(clean_frame):
    full = train_supervised(clean_frame).metrics["linear_regression"]["rmse"]
    poor = train_supervised(clean_frame, features=["passenger_count"]).metrics["linear_regression"]["rmse"]
    assert poor > full * 2


@pytest.mark.parametrize(("kwargs", "message"), [({"alpha": -1}, "alpha"), ({"test_size": 1.5}, "test_size")])
def test_supervised_parameters_are_checked(clean_frame, kwargs, message):
    with pytest.raises(TrainingError, match=message):
        train_supervised(clean_frame, **kwargs)


def test_supervised_refuses_too_few_rows(clean_frame):
    with pytest.raises(TrainingError, match="too few"):
        train_supervised(clean_frame.head(10))


def test_unsupervised_metrics_and_silhouette_sample(clean_frame):
    result = train_unsupervised(clean_frame, n_clusters=5, seed=1, silhouette_sample=1000)
    metrics = result.metrics["kmeans"]
    kmeans = result.models["kmeans"]
    assert metrics["n_clusters"] == 5 and isinstance(kmeans, KMeans) and kmeans.n_clusters == 5
    assert metrics["sample_size_used"] == 1000
    assert -1 <= metrics["silhouette"] <= 1 and metrics["inertia"] > 0
    assert (
        train_unsupervised(clean_frame, n_clusters=5, seed=1, silhouette_sample=1000).metrics
        == result.metrics
    )


def test_unsupervised_checks_cluster_count(clean_frame):
    with pytest.raises(TrainingError, match="at least 2"):
        train_unsupervised(clean_frame, n_clusters=1)
    with pytest.raises(TrainingError, match="rows with coordinates"):
        train_unsupervised(clean_frame.head(3), n_clusters=4)


def test_large_data_kmeans_starts_from_a_sample(clean_frame, monkeypatch):
    from labhelpers.training import train

    plain = train_unsupervised(clean_frame, n_clusters=6, seed=2, silhouette_sample=500)
    monkeypatch.setattr(train, "KMEANS_INIT_SAMPLE", 1000)
    sampled = train_unsupervised(clean_frame, n_clusters=6, seed=2, silhouette_sample=500)
    plain_kmeans, sampled_kmeans = plain.models["kmeans"], sampled.models["kmeans"]
    assert isinstance(plain_kmeans, KMeans) and isinstance(sampled_kmeans, KMeans)
    assert isinstance(plain_kmeans.init, str)
    assert sampled_kmeans.init.shape == (6, 4)  # centres from the sample, refined on all rows
    # k-means finds local optima: a different start may land elsewhere, but not far off on this data
    assert sampled.metrics["kmeans"]["inertia"] <= plain.metrics["kmeans"]["inertia"] * 1.25


def test_fit_regressors_split_is_seeded_and_sized(clean_frame):
    first = train_supervised(clean_frame, test_size=0.25, seed=9)
    other = train_supervised(clean_frame, test_size=0.25, seed=10)
    assert first.extra["rows_test"] == round(len(clean_frame) * 0.25)
    assert first.metrics != other.metrics
    linear = first.models["linear_regression"]
    assert isinstance(linear, LinearRegression) and linear.copy_X is True
