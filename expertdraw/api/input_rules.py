"""Registration-time rules for request models: closed, and every string bounded.

Why at registration: a model that forgets ``max_length`` would let megabyte strings reach the
services and the database. Checking the generated JSON schema when the endpoint is declared
turns that mistake into an import error instead of a production incident.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# Strings in these formats are parsed into bounded values (dates, UUIDs), so need no maxLength.
# A property schema with none of these keys accepts anything (``Any``).
TYPED_KEYS = {"type", "$ref", "anyOf", "allOf", "oneOf", "enum", "const"}
BOUNDED_FORMATS = {"date", "date-time", "time", "uuid", "duration", "ipv4", "ipv6"}


def _string_unbounded(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    is_string = kind == "string" or (isinstance(kind, list) and "string" in kind)
    if not is_string:
        return False
    if "enum" in schema or "const" in schema or "maxLength" in schema:
        return False
    return schema.get("format") not in BOUNDED_FORMATS


def _walk(node: Any, where: str, problems: list[str]) -> None:
    if isinstance(node, dict):
        if _string_unbounded(node):
            problems.append(where or "$")
        if node.get("type") == "object":
            extra = node.get("additionalProperties")
            if "properties" in node and extra is not False:
                problems.append(f"{where or '$'} (extra fields not forbidden)")
            elif extra is True or (
                isinstance(extra, dict) and "maxLength" not in node.get("propertyNames", {})
            ):
                problems.append(f"{where or '$'} (object keys without max_length)")
            for name, sub in (node.get("properties") or {}).items():
                if isinstance(sub, dict) and not (TYPED_KEYS & sub.keys()):
                    problems.append(f"{where or '$'}.{name} (any type)")
        for key, value in node.items():
            _walk(value, f"{where}.{key}" if where else key, problems)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, f"{where}.{index}", problems)


def check_input_model(model: type[BaseModel]) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``model`` is closed and bounds its strings."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{model!r} is not a pydantic model")
    if model.model_config.get("extra") != "forbid":
        raise ValueError(f"{model.__name__} must forbid extra fields (derive from ApiModel)")
    problems: list[str] = []
    _walk(model.model_json_schema(mode="validation"), "", problems)
    if problems:
        raise ValueError(f"{model.__name__}: unbounded input at {', '.join(problems)}")
