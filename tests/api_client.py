"""A client for /api/v1 that checks every answer against the OpenAPI document the app serves."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator
from starlette.testclient import TestClient


class Api:
    """A client for /api/v1 that checks every answer against the served OpenAPI document: the status is one
    the document lists for that path and method, and the body validates against its schema."""

    def __init__(self, client: TestClient, key: str | None) -> None:
        self.client, self.key = client, key
        self.doc = client.get("/api/v1/openapi.json").json()
        self.checked = 0

    def __call__(self, method: str, path: str, *, key: str | None = "default", headers=None, **kw):
        auth = self.key if key == "default" else key
        sent = {**({"Authorization": f"Bearer {auth}"} if auth else {}), **(headers or {})}
        answer = self.client.request(method, f"/api/v1{path}", headers=sent, **kw)
        self.check(method, path.split("?")[0], answer)
        return answer

    def check(self, method: str, path: str, answer) -> None:
        operation = self.doc["paths"][self.template(path)][method.lower()]
        status = str(answer.status_code)
        assert status in operation["responses"], f"{method} {path}: {status} is not in the document"
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        root = {**schema, "components": self.doc["components"]}
        errors = list(Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
                      .iter_errors(answer.json()))
        assert not errors, f"{method} {path} {status}: {errors[0].message} at {list(errors[0].absolute_path)}"
        self.checked += 1

    def template(self, path: str) -> str:
        for template in self.doc["paths"]:
            if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
                return template
        raise AssertionError(f"{path} is not in the OpenAPI document")
