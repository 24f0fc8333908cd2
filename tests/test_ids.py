"""Identifiers: 26 characters of Crockford base32, ordered by creation time, never repeated."""

import re
import time

from app.ids import new_id, new_ids

ID = re.compile(r"[0-9a-hjkmnp-tv-z]{26}")


def test_ids_one_at_a_time_and_in_bulk_look_alike_and_follow_time() -> None:
    first = new_id()
    time.sleep(0.002)
    bulk = new_ids(5000)
    time.sleep(0.002)
    last = new_id()
    assert all(ID.fullmatch(value) for value in [first, *bulk, last])
    assert len(set(bulk)) == len(bulk)
    assert first < min(bulk) and max(bulk) < last
    assert new_ids(0) == []
