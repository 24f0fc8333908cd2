"""Contact test fixtures."""

from tests.region.conftest import catalogs

__all__ = ["catalogs"]
