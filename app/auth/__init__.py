"""The ``auth`` blueprint: register, login, token, me, logout."""

from flask_smorest import Blueprint


class AuthBlueprint(Blueprint):
    # ``/token`` parses JSON or an OAuth2 form; document its body as JSON
    # here (the form variant is added on the view), not as a bogus parameter.
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "json_or_form": "application/json",
    }


bp = AuthBlueprint("auth", __name__, description="Accounts and sessions")

from app.auth import routes  # noqa: E402,F401  (attach the views to bp)
