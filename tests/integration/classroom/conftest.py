"""The classroom tier: its fixtures are in tests/conftest.py, where the adversarial tier shares its server."""
