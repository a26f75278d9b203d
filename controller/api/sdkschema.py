"""OpenAPI v3 structural schema of the Jobs API ``JobSettings``, read from the pinned databricks-sdk.

Source of truth: the SDK's ``databricks.sdk.service.jobs`` / ``compute`` dataclasses, which Databricks
generates from its Jobs API OpenAPI document. Field names and types come from
:func:`typing.get_type_hints`; a field is required when its hint is not ``Optional`` (the SDK marks the
API's required fields that way); descriptions are the attribute docstrings that follow each field in the
SDK's source (read with :mod:`ast`, never imported as text copies). Python ``Enum`` types become ``enum:``.

Structural-schema rules (apiextensions.k8s.io/v1) this walk keeps: every node has a ``type``; no ``$ref``;
maps are ``additionalProperties`` of one type. Recursion (``Task.for_each_task.task`` is a ``Task``) is cut
at :data:`MAX_SAME_CLASS_DEPTH`: the nested task is expanded once more, anything deeper is an empty object
(``maxProperties: 0``; the API itself refuses a ``for_each_task`` inside a ``for_each_task``). Never a node that
preserves unknown fields: that would admit JSON nested deeper than the controller can decode.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import inspect
import itertools
import re
import types
import typing
from collections.abc import Callable
from typing import Any

#: How many times one dataclass may appear on a path from the root (2: a for-each's inner Task is full).
MAX_SAME_CLASS_DEPTH = 2

Schema = dict[str, Any]
#: ``(path, class, field name, schema) -> schema``: hook for limits and rules keyed by schema path.
RefineField = Callable[[str, type, str, Schema], Schema]
#: ``(path, class, schema) -> schema``: hook for rules on every object of a class.
RefineObject = Callable[[str, type, Schema], Schema]


@functools.cache
def _module_docs(module_name: str) -> dict[tuple[str, str], str]:
    """``{(class name, field name): docstring}`` for every annotated attribute followed by a string."""
    module = __import__(module_name, fromlist=["_"])
    tree = ast.parse(inspect.getsource(module))
    docs: dict[tuple[str, str], str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        body = node.body
        for stmt, after in itertools.pairwise(body):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[(node.name, stmt.target.id)] = inspect.cleandoc(after.value.value)
    return docs


_RST_LINK = re.compile(r"`([^`<]+?)\s*<([^>]+)>`__")


def clean_doc(text: str) -> str:
    """SDK reStructuredText → plain text for ``kubectl explain``: ``x`` → `x`, `a <url>`__ → a (url)."""
    text = _RST_LINK.sub(r"\1 (\2)", text).replace("``", "`")
    # The SDK wraps docstrings at 100 columns; kubectl explain re-wraps, so join lines within a paragraph
    # and keep paragraph breaks and list items.
    paragraphs = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in para.splitlines()]
        joined = lines[0] if lines else ""
        for line in lines[1:]:
            joined += ("\n" if line.startswith(("-", "*")) else " ") + line
        paragraphs.append(joined)
    return "\n\n".join(paragraphs)


def field_doc(cls: type, name: str) -> str:
    """The SDK's description of ``cls.name``; a generated one naming the SDK type when it has none."""
    doc = _module_docs(cls.__module__).get((cls.__name__, name))
    return clean_doc(doc) if doc else f"`{name}` of the Jobs API `{cls.__name__}` object."


def class_doc(cls: type) -> str:
    """The SDK class docstring, or one naming the type (dataclass docstrings are the generated signature)."""
    doc = cls.__doc__ or ""
    if not doc or doc.startswith(cls.__name__ + "("):
        return f"Jobs API `{cls.__name__}` object."
    return clean_doc(inspect.cleandoc(doc))


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """``(inner type, optional?)`` of ``Optional[X]`` / ``X | None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
        raise TypeError(f"unsupported union {hint!r}")
    return hint, False


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    """``{field: type hint}`` of an SDK dataclass, in declaration order."""
    all_hints = typing.get_type_hints(cls)
    return {f.name: all_hints[f.name] for f in dataclasses.fields(cls)}


def _scalar(hint: Any) -> Schema | None:
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer", "format": "int64"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"type": "string", "enum": [m.value for m in hint]}
    if hint is Any:
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return None


class SchemaBuilder:
    """Walks SDK dataclasses into structural schemas; ``refine`` adds limits and CEL rules by path.

    Paths use dots and ``[]`` for list items, relative to the root class: ``tasks[].notebook_task``.
    """

    def __init__(self, refine_field: RefineField | None = None, refine_object: RefineObject | None = None) -> None:
        self.refine_field = refine_field
        self.refine_object = refine_object

    def object_schema(self, cls: type, path: str = "", stack: tuple[type, ...] = ()) -> Schema:
        """The schema of dataclass ``cls`` (properties in declaration order, ``required`` from the hints)."""
        stack = (*stack, cls)
        props: Schema = {}
        required: list[str] = []
        for name, hint in hints(cls).items():
            inner, optional = _unwrap(hint)
            if not optional:
                required.append(name)
            child = f"{path}.{name}" if path else name
            prop = self._type_schema(inner, child, stack)
            prop["description"] = field_doc(cls, name)
            if self.refine_field is not None:
                prop = self.refine_field(child, cls, name, prop)
            props[name] = prop
        schema: Schema = {"type": "object", "description": class_doc(cls), "properties": props}
        if required:
            schema["required"] = required
        if self.refine_object is not None:
            schema = self.refine_object(path, cls, schema)
        return schema

    def _type_schema(self, hint: Any, path: str, stack: tuple[type, ...]) -> Schema:
        scalar = _scalar(hint)
        if scalar is not None:
            return scalar
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is list:
            return {"type": "array", "items": self._item_schema(args[0], f"{path}[]", stack)}
        if origin is dict:
            return {"type": "object", "additionalProperties": self._item_schema(args[1], f"{path}{{}}", stack)}
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            if stack.count(hint) >= MAX_SAME_CLASS_DEPTH:
                # Not x-kubernetes-preserve-unknown-fields: a free-form node admits JSON nested thousands of
                # levels deep, which the controller's JSON decoder (and any recursive walk) cannot take.
                return {
                    "type": "object",
                    "maxProperties": 0,
                    "description": f"Jobs API `{hint.__name__}` nested deeper than the schema expands: nothing may "
                    "be set here (the Jobs API refuses a for_each_task inside a for_each_task).",
                }
            return self.object_schema(hint, path, stack)
        raise TypeError(f"unsupported SDK type {hint!r} at {path}")

    def _item_schema(self, hint: Any, path: str, stack: tuple[type, ...]) -> Schema:
        return self._type_schema(hint, path, stack)
