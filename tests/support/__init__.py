"""Test tooling shared by the portal's tests: a real OpenID provider and browser helpers."""
