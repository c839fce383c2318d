"""Id tokens (RFID cards, app tokens, ...) that may start charging."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from evcsms.api.deps import Paging, ServicesDep, require_operator
from evcsms.api.schemas import IdTokenCreate, IdTokenOut, IdTokenPatch, Page

router = APIRouter(
    prefix="/id-tokens", tags=["id tokens"], dependencies=[Depends(require_operator)]
)


@router.post("", status_code=201, summary="Add an id token")
async def create_token(body: IdTokenCreate, services: ServicesDep) -> IdTokenOut:
    row = await services.tokens.create(**body.model_dump())
    return IdTokenOut.model_validate(row)


@router.get("", summary="List id tokens")
async def list_tokens(services: ServicesDep, page: Paging) -> Page[IdTokenOut]:
    rows, total = await services.tokens.list(limit=page.limit, offset=page.offset)
    items = [IdTokenOut.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


# `:path` so that a token containing '/' is still addressable.
@router.get("/{token:path}", summary="One id token")
async def get_token(token: str, services: ServicesDep) -> IdTokenOut:
    return IdTokenOut.model_validate(await services.tokens.get(token))


@router.patch("/{token:path}", summary="Change an id token")
async def update_token(token: str, body: IdTokenPatch, services: ServicesDep) -> IdTokenOut:
    row = await services.tokens.update(token, **body.changes())
    return IdTokenOut.model_validate(row)


@router.delete("/{token:path}", status_code=204, summary="Delete an id token")
async def delete_token(token: str, services: ServicesDep) -> Response:
    await services.tokens.delete(token)
    return Response(status_code=204)
