"""An HTTP client of the console that keeps cookies as a browser on http://127.0.0.1 would.

httpx does not send Secure cookies over plain HTTP, while Chromium does on
loopback addresses, so this client keeps the console's cookies itself. It
also reads the hidden form tokens out of the pages.
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any

import httpx

from tocsin.testing import RunningServer

SESSION_COOKIE = "tocsin-console-session"
SIGN_IN_COOKIE = "tocsin-console-signin"
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


class ConsoleClient:
    """A console visitor with its own cookies."""

    def __init__(self, server: RunningServer) -> None:
        self.http = httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)
        self.cookies: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = self.http.request(method, path, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            parsed = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def sign_in(
        self,
        account_id: str,
        user_name: str,
        password: str,
        *,
        next_path: str = "/console/",
        extra: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Fetch the sign-in form and submit it; return the response to the submission."""
        form = self.get("/console/signin")
        match = FORM_TOKEN.search(form.text)
        assert match is not None, form.text
        data = {
            "form_token": match.group(1),
            "account_id": account_id,
            "user_name": user_name,
            "password": password,
            "next": next_path,
            **(extra or {}),
        }
        return self.post("/console/signin", data=data)

    def csrf_token(self) -> str:
        """Return the CSRF token from the meta tag of a console page."""
        page = self.get("/console/switch-role")
        match = CSRF_META.search(page.text)
        assert match is not None, page.text
        return match.group(1)
