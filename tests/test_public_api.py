"""The package's public surface is exactly what `toolkit.__all__` lists."""

from __future__ import annotations

import toolkit


def test_every_public_name_exists_and_nothing_else_is_exported() -> None:
    """Each name in __all__ resolves, and every public non-module attribute is listed."""
    assert all(hasattr(toolkit, name) for name in toolkit.__all__)
    public = {
        name
        for name, value in vars(toolkit).items()
        if not name.startswith("_") and type(value).__name__ != "module"
    }
    assert public == set(toolkit.__all__)
