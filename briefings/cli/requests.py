"""Request bodies built by the contract models, and list queries followed page by page.

A body the contract refuses is refused here, in the documented error shape, before anything
is sent; a body the contract accepts is sent as the model writes it (the service reads it
with the same model).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from briefings.client import Client_, RequestFailed
from contracts import awards, events, reporting, roster
from contracts.replies import ErrorCode, FieldError, PagedQuery
from contracts.subjects import query_subject

CONTEXTS = {"roster": roster, "events": events, "awards": awards, "reporting": reporting}


def _model(context: str, table: str, name: str) -> type[BaseModel]:
    models: dict[str, type[BaseModel]] = getattr(CONTEXTS[context], table)
    return models[name]


def refused(exc: ValidationError) -> dict[str, Any]:
    """The service's validation error, as the service would have answered it."""
    details = [
        FieldError(
            field=".".join(str(p) for p in err.get("loc", ())),
            message=err.get("msg", ""),
            type=err.get("type", ""),
        ).model_dump()
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    return {
        "ok": False,
        "code": ErrorCode.VALIDATION_FAILED.value,
        "message": f"{len(details)} field(s) failed validation",
        "details": details,
    }


def body(
    context: str, kind: str, name: str, fields: dict[str, Any], keep_none: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``cmd``/``qry``/``op`` (an operator request on ``cmd.``) ``<context>.<name>``'s body from
    ``fields`` through its contract model.
    ``None`` fields are left out (the model's default) unless named in ``keep_none``.
    Raises ``RequestFailed`` with the validation error."""
    table = {"cmd": "COMMANDS", "qry": "QUERIES", "op": "OPERATIONS"}[kind]
    model = _model(context, table, name)
    given = {k: v for k, v in fields.items() if v is not None or k in keep_none}
    try:
        return model.model_validate(given).model_dump(mode="json", exclude_unset=True)
    except ValidationError as exc:
        raise RequestFailed(refused(exc)) from None


def paged(context: str, name: str) -> bool:
    return issubclass(_model(context, "QUERIES", name), PagedQuery)


async def all_pages(client: Client_, context: str, name: str, query: dict[str, Any]) -> list[Any]:
    """Every row of a paged list query: follow ``next`` until the last page."""
    rows: list[Any] = []
    after: str | None = None
    while True:
        page = await client.request(query_subject(context, name), {**query, "after": after})
        rows.extend(page["data"])
        after = page.get("next")
        if not after:
            return rows
