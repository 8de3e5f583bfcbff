"""CHORUS_ADMIN_AUTH=iam: API Gateway IAM authorization on the admin routes, decided at import."""

import importlib
import types

import pytest
from chalice import IAMAuthorizer, UnauthorizedError


@pytest.fixture
def iam_app(monkeypatch):
    import app as chalice_app

    monkeypatch.setenv("CHORUS_ADMIN_AUTH", "iam")
    yield importlib.reload(chalice_app)
    monkeypatch.delenv("CHORUS_ADMIN_AUTH")
    importlib.reload(chalice_app)


def test_admin_routes_use_iam_and_webhooks_do_not(iam_app):
    routes = iam_app.app.routes
    admin = [(path, m) for path, methods in routes.items() if path.startswith("/admin") for m in methods]
    assert len(admin) >= 11
    assert all(isinstance(routes[p][m].authorizer, IAMAuthorizer) for p, m in admin)
    assert all(routes["/webhooks/{connector_id}"][m].authorizer is None for m in ("GET", "POST"))


def test_iam_routes_land_in_the_api_definition_as_sigv4(iam_app):
    from chalice.deploy.swagger import SwaggerGenerator

    swagger = SwaggerGenerator(
        "us-east-1", {"api_handler_arn": "arn:aws:lambda:us-east-1:123456789012:function:api"}
    ).generate_swagger(iam_app.app)
    assert swagger["securityDefinitions"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert swagger["paths"]["/admin/advocates"]["get"]["security"] == [{"sigv4": []}]
    assert "security" not in swagger["paths"]["/webhooks/{connector_id}"]["post"]


def test_token_mode_has_no_authorizer():
    import app as chalice_app

    assert chalice_app.app.routes["/admin/advocates"]["GET"].authorizer is None


def test_iam_mode_requires_the_caller_api_gateway_puts_in_the_context(monkeypatch):
    """Without API Gateway in front (chalice local, a misconfigured stage) it does not fall open,
    and the bearer token is no longer what counts."""
    from chalicelib.web import require_admin

    monkeypatch.setenv("CHORUS_ADMIN_AUTH", "iam")
    bare = types.SimpleNamespace(context={}, headers={"authorization": "Bearer admin-token-cdef"})
    with pytest.raises(UnauthorizedError):
        require_admin(bare)
    signed = types.SimpleNamespace(
        context={"identity": {"userArn": "arn:aws:iam::123456789012:user/ops"}}, headers={}
    )
    require_admin(signed)


def test_unknown_auth_mode_fails_loudly(monkeypatch):
    from chalicelib.web import admin_auth_mode

    monkeypatch.setenv("CHORUS_ADMIN_AUTH", "cognito")
    with pytest.raises(ValueError):
        admin_auth_mode()
