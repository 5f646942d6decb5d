"""The customer's own profile and saved addresses."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field, StrictBool

from bookings.http.idempotency import create_once
from bookings.http.inputs import (
    SINGLE_LINE,
    TRIMMED,
    Lat,
    Lng,
    Phone,
    Strict,
    path_uuid,
    pool_of,
    required_body,
    unchanged,
)
from bookings.people import customers
from bookings.people.models import AddressList, Customer, SavedAddress
from hub.auth import Role
from hub.storage.db import Conn
from hub.web.openapi import Operation, caller, reply


class CustomerIn(Strict):
    name: Annotated[str, Field(max_length=50, pattern=SINGLE_LINE)] = unchanged()
    phone: Phone | None = None


class AddressIn(Strict):
    label: Annotated[str, Field(max_length=30, pattern=SINGLE_LINE)] = ""
    line: Annotated[str, Field(min_length=1, max_length=200, pattern=TRIMMED)]
    city: Annotated[str, Field(max_length=50, pattern=SINGLE_LINE)] = ""
    lat: Lat
    lng: Lng
    is_default: StrictBool = False


class AddressPatch(Strict):
    label: Annotated[str, Field(max_length=30, pattern=SINGLE_LINE)] = unchanged()
    line: Annotated[str, Field(min_length=1, max_length=200, pattern=TRIMMED)] = unchanged()
    city: Annotated[str, Field(max_length=50, pattern=SINGLE_LINE)] = unchanged()
    lat: Lat = unchanged()
    lng: Lng = unchanged()
    is_default: StrictBool = unchanged()


async def get_customer(request: web.Request) -> web.Response:
    user = caller(request)
    return reply(await customers.customer(pool_of(request), user.user_id))


async def update_customer(request: web.Request) -> web.Response:
    user = caller(request)
    body = await required_body(request, CustomerIn)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return reply(await customers.update_customer(pool_of(request), user.user_id, changes))


async def list_addresses(request: web.Request) -> web.Response:
    user = caller(request)
    return reply(
        AddressList(next_cursor=None, items=await customers.addresses(pool_of(request), user.user_id))
    )


async def create_address(request: web.Request) -> web.Response:
    user = caller(request)
    body = await required_body(request, AddressIn)

    async def create(conn: Conn) -> SavedAddress:
        return await customers.create_address(conn, user.user_id, body.model_dump())

    return await create_once(request, pool_of(request), user, create)


async def update_address(request: web.Request) -> web.Response:
    user = caller(request)
    address_id = path_uuid(request, "address_id", "address")
    body = await required_body(request, AddressPatch)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    async with pool_of(request).acquire() as conn, conn.transaction():
        address = await customers.update_address(conn, user.user_id, address_id, changes)
    return reply(address)


async def delete_address(request: web.Request) -> web.Response:
    user = caller(request)
    address_id = path_uuid(request, "address_id", "address")
    async with pool_of(request).acquire() as conn, conn.transaction():
        await customers.delete_address(conn, user.user_id, address_id)
    return web.Response(status=204)


OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/customers/me",
        get_customer,
        "The customer's profile (created on first use)",
        "customers",
        roles=(Role.CUSTOMER,),
        responses={200: Customer},
    ),
    Operation(
        "PUT",
        "/api/v1/customers/me",
        update_customer,
        "Change the customer's name or phone",
        "customers",
        roles=(Role.CUSTOMER,),
        body=CustomerIn,
        responses={200: Customer},
    ),
    Operation(
        "GET",
        "/api/v1/customers/me/addresses",
        list_addresses,
        "Saved addresses, the default first",
        "customers",
        roles=(Role.CUSTOMER,),
        responses={200: AddressList},
    ),
    Operation(
        "POST",
        "/api/v1/customers/me/addresses",
        create_address,
        "Save an address (the first one becomes the default)",
        "customers",
        roles=(Role.CUSTOMER,),
        body=AddressIn,
        responses={201: SavedAddress},
        errors=(409,),
        idempotent=True,
    ),
    Operation(
        "PUT",
        "/api/v1/customers/me/addresses/{address_id}",
        update_address,
        "Change a saved address",
        "customers",
        roles=(Role.CUSTOMER,),
        body=AddressPatch,
        responses={200: SavedAddress},
        errors=(404,),
        path_params={"address_id": {"type": "string", "format": "uuid"}},
    ),
    Operation(
        "DELETE",
        "/api/v1/customers/me/addresses/{address_id}",
        delete_address,
        "Delete a saved address (the most recent other one becomes the default)",
        "customers",
        roles=(Role.CUSTOMER,),
        responses={204: None},
        errors=(404,),
        path_params={"address_id": {"type": "string", "format": "uuid"}},
    ),
]
