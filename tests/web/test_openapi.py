"""The served OpenAPI document is valid and lists every /api/v1 route the app serves."""

import pytest
from openapi_spec_validator import validate

from app import create_app


@pytest.fixture
async def client(aiohttp_client, environment, config):
    return await aiohttp_client(create_app(config))


async def test_the_document_is_valid_and_complete(client):
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)
    served = set()
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/api/v1/") and route.method != "HEAD":
            served.add((path, route.method.lower()))
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert served - documented == set()


async def test_every_documented_method_is_served(client):
    """The document claims no method a path does not have (an unknown one is a 405)."""
    document = await (await client.get("/api/v1/openapi.json")).json()
    served = {(route.resource.canonical, route.method.lower())
              for route in client.app.router.routes() if route.resource is not None}
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented - served == set()
