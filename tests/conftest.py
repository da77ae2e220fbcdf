"""Fixtures shared across the suite. Module-specific fixtures live beside their tests."""
