"""Protocol facts are written once, in toolkit/protocol.py, and both sides of the wire use them."""

from __future__ import annotations

import ast
from pathlib import Path

from toolkit import errors, protocol
from toolkit.functions.openapi import openapi_document

_TOOLKIT = Path(protocol.__file__).parent
# The gateway's nginx config is written by the stack package, restructured separately
# (issue 9 item 6); it is held to the same CORS list by the contract tests.
_ELSEWHERE = {_TOOLKIT / "stack"}


def _facts() -> dict[str, str]:
    return {
        value: name
        for name, value in vars(protocol).items()
        if name.isupper() and isinstance(value, str)
    }


def test_no_module_spells_a_protocol_fact_itself() -> None:
    """Outside protocol.py, no string literal in toolkit/ equals a protocol fact."""
    facts = _facts()
    found = []
    for path in sorted(_TOOLKIT.rglob("*.py")):
        if path.name == "protocol.py" or any(path.is_relative_to(d) for d in _ELSEWHERE):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in facts:
                found.append(f"{path.relative_to(_TOOLKIT)}:{node.lineno} {facts[node.value]}")
    assert found == []


def test_every_function_error_code_is_a_protocol_fact() -> None:
    """Each FunctionError class carries a code protocol.py names, and no two share one."""
    codes = [cls.code for cls in errors.FunctionError.__subclasses__()]
    assert len(set(codes)) == len(codes)
    assert set(codes) <= set(_facts())


def test_the_openapi_document_states_the_protocol() -> None:
    """The served document lists both functions, the CORS header list and every error code."""
    document = openapi_document()
    assert set(document["paths"]) == {f"/{name}" for name in protocol.FUNCTIONS}
    operation = document["paths"][f"/{protocol.CHAT_VISITOR_SYNC}"]["post"]
    cors = operation["responses"]["200"]["headers"]["Access-Control-Allow-Headers"]
    assert cors["schema"]["enum"] == [protocol.CORS_ALLOW_HEADERS_VALUE]
    documented = {
        code
        for response in operation["responses"].values()
        for part in response.get("content", {})
        .get("application/json", {})
        .get("schema", {})
        .get("allOf", [])[1:]
        for code in part["properties"]["code"]["enum"]
    }
    assert documented == {c.code for c in errors.FunctionError.__subclasses__()} - {
        protocol.NOT_FOUND
    }
