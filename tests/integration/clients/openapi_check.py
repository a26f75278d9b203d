"""Validation of emulator answers against the official Jobs 2.1 OpenAPI document (issue 3 item 6).

The document ships inside the ``prefect-databricks`` wheel on PyPI; ``hack/build-clients.sh``
extracts it into the client cache at test-setup time (it is never copied into the repository).
Each 200 answer of a Jobs endpoint (2.1, 2.2 or the 2.0 alias) is validated against the
2.1 ``responses.200`` schema of the same path: ``$ref`` resolved in the document, OpenAPI-only
keywords ignored, additional properties allowed (2.2 and newer fields are not in the 2.1 document).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

ROOT_URI = "urn:dbjobs:jobs-2.1-openapi"
_API_PATH = re.compile(r"^/api/2\.[012]/(jobs/.+)$")


def _open(node: Any) -> Any:
    """The document with every ``additionalProperties: false`` dropped (extra fields are allowed)."""
    if isinstance(node, dict):
        return {k: _open(v) for k, v in node.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(node, list):
        return [_open(v) for v in node]
    return node


class OpenApiChecker:
    """Validates captured ``(method, path, status, body)`` answers; see the module docstring."""

    def __init__(self, document: Path) -> None:
        self.doc = _open(yaml.safe_load(document.read_text(encoding="utf-8")))
        self.registry = Registry().with_resource(ROOT_URI, Resource(contents=self.doc, specification=DRAFT4))

    def schema_pointer(self, method: str, path: str) -> str | None:
        """JSON pointer of the 200 schema for ``method path``, or None when the document has none."""
        match = _API_PATH.match(path)
        if not match:
            return None
        doc_path = f"/2.1/{match.group(1)}"
        op = self.doc.get("paths", {}).get(doc_path, {}).get(method.lower())
        if not op:
            return None
        content = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
        if not content or "schema" not in content:
            return None
        escaped = doc_path.replace("~", "~0").replace("/", "~1")
        return f"#/paths/{escaped}/{method.lower()}/responses/200/content/application~1json/schema"

    def problems(self, answers: list[tuple[str, str, int, Any]]) -> tuple[int, list[str]]:
        """(answers validated, one line per violation)."""
        checked, out = 0, []
        for method, path, status, body in answers:
            pointer = self.schema_pointer(method, path) if status == 200 else None
            if pointer is None or body is None:
                continue
            checked += 1
            validator = Draft4Validator({"$ref": f"{ROOT_URI}{pointer}"}, registry=self.registry)
            for err in validator.iter_errors(body):
                where = "/".join(str(p) for p in err.absolute_path)
                out.append(f"{method} {path}: at '{where}': {err.message}")
        return checked, out
