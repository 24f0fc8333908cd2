"""Helpers for the console's tests: signing in with a key, and reading forms' tokens off pages."""

import re

from httpx import AsyncClient, Response

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: Response | str) -> str:
    text = page if isinstance(page, str) else page.text
    found = CSRF.search(text)
    assert found, "the page has no form token"
    return found.group(1)


async def sign_in(http: AsyncClient, token: str, next_path: str = "/console") -> Response:
    """Sign in through the form, as a browser does: the form's page first (its cookie), then the post."""
    form = await http.get("/console/login", params={"next": next_path})
    assert form.status_code == 200, form.text
    return await http.post("/console/login", data={"token": token, "csrf": csrf_of(form), "next": next_path})
