"""One login name for the whole package (foundation.config.login_name): a system without one gives "unknown",
and any other error is a bug that surfaces, whichever caller asked (owner, endpoint suffix, promotion)."""

from __future__ import annotations

import getpass

import pytest

from labhelpers.foundation import config
from labhelpers.foundation.provenance import OWNER_ENV, default_owner
from labhelpers.registry.promotion import rollback


def _getuser_raises(monkeypatch, error: BaseException) -> None:
    def getuser():
        raise error

    monkeypatch.setattr(getpass, "getuser", getuser)


def _promoted_by(fake_registry) -> str:
    """Who a promotion records when no actor is given (a rollback: the move with the fewest gates)."""
    earlier = fake_registry.version(
        "m", 1, lifecycle="archived", production_until="2026-01-01T00:00:00+00:00"
    )
    client = fake_registry([earlier, fake_registry.version("m", 2, lifecycle="production")])
    return rollback("m", client=client).by


def _callers(fake_registry):
    """Each caller of the login name, as the package calls it."""
    return {
        "owner": default_owner,
        "endpoint suffix": config.endpoint_suffix,
        "promotion": lambda: _promoted_by(fake_registry),
    }


@pytest.fixture(autouse=True)
def _no_names_from_the_environment(monkeypatch):
    for name in (OWNER_ENV, "LAB_ACTOR", config.ENDPOINT_SUFFIX_ENV):
        monkeypatch.delenv(name, raising=False)


# KeyError: no such uid in the password database (3.10-3.12); OSError: 3.13; ImportError: no pwd module
@pytest.mark.parametrize(
    "error", [KeyError("getpwuid(): uid not found: 1001"), OSError("no login"), ImportError()]
)
def test_a_system_without_a_login_name_gives_unknown(monkeypatch, fake_registry, error):
    _getuser_raises(monkeypatch, error)
    assert config.login_name() == "unknown"
    assert default_owner() == "unknown" and _promoted_by(fake_registry) == "unknown"
    monkeypatch.setattr(getpass, "getuser", lambda: "unknown")
    suffix_of_unknown = config.endpoint_suffix()
    _getuser_raises(monkeypatch, error)
    assert config.endpoint_suffix() == suffix_of_unknown


@pytest.mark.parametrize("caller", ["owner", "endpoint suffix", "promotion"])
def test_a_bug_behind_the_login_name_surfaces_in_every_caller(monkeypatch, fake_registry, caller):
    _getuser_raises(monkeypatch, TypeError("getuser() takes 0 positional arguments but 1 was given"))
    with pytest.raises(TypeError, match="positional arguments"):
        _callers(fake_registry)[caller]()


def test_the_login_name_is_what_every_caller_records(monkeypatch, fake_registry):
    monkeypatch.setattr(getpass, "getuser", lambda: "grace")
    assert config.login_name() == default_owner() == _promoted_by(fake_registry) == "grace"
