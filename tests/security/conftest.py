"""Fixtures for the security tests: a resolver and a network the tests control."""

from tests.security.egress_helpers import resolver, sockets  # noqa: F401 - fixtures
