"""Fixture groups shared by every component's tests, loaded as plugins by the root conftest.py."""
