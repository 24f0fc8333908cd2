"""Region test fixtures."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from app import i18n


@pytest.fixture
def catalogs(tmp_path: Path) -> Iterator[tuple[str, ...]]:
    """Uyghur and Kazakh catalogs (empty: only their being there matters), whichever ship; the
    languages there are then."""
    for language in ("ug", "kk"):
        (tmp_path / f"{language}.po").write_text("", encoding="utf-8")
    i18n.configure(tmp_path)
    yield i18n.languages()
    i18n.configure(None)
