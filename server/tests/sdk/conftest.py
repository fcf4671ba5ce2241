"""pytest wiring: the fixtures live in harness.py (importable by the tests, unlike conftest)."""

from harness import _clear_replay, client, gateway, recorded_client, replay  # noqa: F401
