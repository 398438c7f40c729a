"""Fixtures for the Spectora sandbox's own tests: one live sandbox, reset per test.

These tests use no database; they talk to the sandbox over real HTTP.
"""

from __future__ import annotations

import pytest
import requests

from spectora_sandbox import start_sandbox

DATETIME = "2025-12-01T09:00:00-05:00"


class SandboxClient:
    """requests against one sandbox, with the API key already set."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.url = sandbox.url
        self.http = requests.Session()
        self.http.trust_env = False  # never route 127.0.0.1 through a proxy
        self.http.headers["Authorization"] = f"Bearer {sandbox.api_key}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.http.request(method, self.url + path, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def control(self, method: str, name: str, body=None, **kwargs) -> requests.Response:
        return self.request(method, f"/_sandbox/{name}", json=body, **kwargs)

    def state(self) -> list[dict]:
        return self.control("GET", "state").json()["inspections"]

    def log(self) -> list[dict]:
        return self.control("GET", "requests").json()

    def create_inspection(self, **attrs) -> dict:
        attrs.setdefault("datetime", DATETIME)
        attrs.setdefault("full_address", "12 Elm Street, Springfield, IL 62704")
        resp = self.post("/v2/inspections", json=doc("inspections", **attrs))
        assert resp.status_code == 201, resp.text
        return resp.json()["data"]

    def add(self, iid: str, kind: str, **attrs) -> requests.Response:
        return self.post(f"/v2/inspections/{iid}/{kind}", json=doc(kind, **attrs))

    def updated_at(self, iid: str) -> str:
        return self.get(f"/v2/inspections/{iid}").json()["data"]["attributes"]["updated_at"]


def doc(kind: str, **attrs) -> dict:
    return {"data": {"type": kind, "attributes": attrs}}


def error(resp: requests.Response) -> dict:
    return resp.json()["errors"][0]


@pytest.fixture(scope="session")
def sandbox():
    running = start_sandbox()
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox):
    sandbox.reset()
    yield


@pytest.fixture
def api(sandbox) -> SandboxClient:
    client = SandboxClient(sandbox)
    yield client
    client.http.close()
