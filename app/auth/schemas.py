"""marshmallow schemas for every request and response body of the auth API.

Unknown fields are ignored (``EXCLUDE``), as the FastAPI back-end the
front-end contract was written against does; every known field is strict.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from email_validator import EmailNotValidError, validate_email
from flask import current_app

from app.auth.blocklist import is_common
from app.auth.event_store import EVENT_TYPES
from app.auth.service import Credentials
from app.validation import (
    BLANK,
    COMMON_PASSWORD,
    CONTROL_CHARACTER,
    INVALID_EMAIL,
    INVALID_RECOVERY_CODE,
    INVALID_TOTP_CODE,
    INVALID_USERNAME,
    NOT_BASE64URL,
    NOT_BOOLEAN,
    NOT_DICT,
    NOT_LIST,
    NOT_NULL,
    NOT_OBJECT,
    NOT_PUBLIC_KEY,
    NOT_STRING,
    NOT_UNICODE,
    ONE_FACTOR,
    ONE_IDENTIFIER,
    ONE_PROOF,
    REQUIRED,
    TOO_LONG,
    TOO_SHORT,
)

EMAIL_MAX_LENGTH = 254
USERNAME_MIN_LENGTH = 3
USERNAME_MAX_LENGTH = 50
PASSWORD_MAX_LENGTH = 1024
USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
# What a login may type as a username: anything printable (a NUL would reach
# the database, which refuses it), up to an email address's length.
LOGIN_NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"


class Schema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    error_messages = {"type": NOT_OBJECT.msg}


class Text(ma.fields.String):
    r"""A string field with the contract's messages for missing, null and
    non-string, that refuses text with no UTF-8 form: JSON's ``"\ud800"``
    decodes to a lone surrogate, which hashing and storage cannot encode."""

    default_error_messages = {
        "required": REQUIRED.msg,
        "null": NOT_NULL.msg,
        "invalid": NOT_STRING.msg,
        "invalid_utf8": NOT_STRING.msg,
        "surrogate": NOT_UNICODE.msg,
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("surrogate") from None
        return text


class Length(ma.validate.Length):
    """marshmallow's Length, so that apispec documents minLength/maxLength,
    with the contract's message for each bound."""

    def __call__(self, value: Any) -> Any:
        if self.min is not None and len(value) < self.min:
            raise ma.ValidationError(TOO_SHORT.msg.format(min=self.min))
        if self.max is not None and len(value) > self.max:
            raise ma.ValidationError(TOO_LONG.msg.format(max=self.max))
        return value


class FullMatch(ma.validate.Regexp):
    """marshmallow's Regexp (documented as ``pattern``), matched against the
    whole value: ``$`` alone would let a trailing newline through."""

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self.error)
        return value


def password_min_length(value: str) -> None:
    Length(min=current_app.config["PASSWORD_MIN_LENGTH"])(value)


def not_common(value: str) -> None:
    if current_app.config["PASSWORD_BLOCKLIST_ENABLED"] and is_common(value):
        raise ma.ValidationError(COMMON_PASSWORD.msg)


def normalize_email(value: str) -> str:
    """Trimmed, validated by ``email-validator``, lower-cased: the uniqueness key."""
    value = value.strip()
    if len(value) > EMAIL_MAX_LENGTH:
        raise ma.ValidationError(TOO_LONG.msg.format(max=EMAIL_MAX_LENGTH))
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ma.ValidationError(INVALID_EMAIL.msg) from None
    return checked.normalized.lower()


EMAIL_DOC = {"example": "john@example.com", "format": "email", "maxLength": EMAIL_MAX_LENGTH}


class Email(Text):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return normalize_email(super()._deserialize(value, attr, data, **kwargs))


class UtcDateTime(ma.fields.DateTime):
    """ISO-8601 UTC with a ``Z`` and whole seconds; naive values are UTC (SQLite)."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- requests -----------------------------------------------------------------


def new_password() -> Text:
    """A password being chosen: the same rules at registration, change and reset."""
    return Text(
        required=True,
        validate=[Length(max=PASSWORD_MAX_LENGTH), password_min_length, not_common],
        metadata={
            "example": "correct horse battery staple",
            "description": "At least PASSWORD_MIN_LENGTH characters (see minLength)",
            "min_length_setting": "PASSWORD_MIN_LENGTH",
        },
    )


def current_password() -> Text:
    """A password being checked: any non-empty text up to the maximum."""
    return Text(
        required=True,
        validate=Length(min=1, max=PASSWORD_MAX_LENGTH),
        metadata={"example": "correct horse battery staple"},
    )


MAILED_TOKEN_DOC = {
    "description": "The token= value of the mailed link",
    "example": "x3H_Qp1vZ8rB2mK9sT0uW4yA6cE7gI5kN3oR1tV8wXz",
}


class RegisterIn(Schema):
    username = Text(
        required=True,
        validate=[
            Length(min=USERNAME_MIN_LENGTH, max=USERNAME_MAX_LENGTH),
            FullMatch(USERNAME_PATTERN, error=INVALID_USERNAME.msg),
        ],
        metadata={"example": "johndoe"},
    )
    email = Email(required=True, metadata=EMAIL_DOC)
    password = new_password()


class CredentialsIn(Schema):
    """Login and token input: ``password`` plus exactly one of ``email``/``username``.

    For the OAuth2 password form ``username`` may hold an email address;
    usernames cannot contain ``@``, so such a value is taken as an email.
    """

    email = Email(metadata=EMAIL_DOC)
    username = Text(
        validate=[
            Length(min=1, max=EMAIL_MAX_LENGTH),
            FullMatch(LOGIN_NAME_PATTERN, error=CONTROL_CHARACTER.msg),
        ],
        metadata={"example": "johndoe", "description": "A username, or an email address"},
    )
    password = Text(
        required=True,
        validate=Length(min=1, max=PASSWORD_MAX_LENGTH),
        metadata={"example": "correct horse battery staple"},
    )

    @ma.validates_schema(pass_original=True, skip_on_field_errors=False)
    def one_identifier(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        # Count what the client sent, so that an invalid email is not also
        # reported as a missing identifier.
        if not isinstance(original, Mapping):
            return  # already reported: the body is not an object
        given = [name for name in ("email", "username") if name in original]
        if len(given) != 1:
            raise ma.ValidationError(ONE_IDENTIFIER.msg)

    @ma.post_load
    def to_credentials(self, data: dict[str, Any], **kwargs: Any) -> Credentials:
        username = data.get("username")
        if username is not None and "@" in username:
            try:
                return Credentials(password=data["password"], email=normalize_email(username))
            except ma.ValidationError as error:
                raise ma.ValidationError(error.messages, "username") from None
        return Credentials(password=data["password"], email=data.get("email"), username=username)


class EmailCredentialsIn(Schema):
    """Documents one shape of ``CredentialsIn``: by email."""

    email = Email(required=True, metadata=EMAIL_DOC)
    password = Text(required=True, validate=Length(min=1, max=PASSWORD_MAX_LENGTH))


class UsernameCredentialsIn(Schema):
    """Documents the other shape of ``CredentialsIn``: by username."""

    username = Text(
        required=True,
        validate=[
            Length(min=1, max=EMAIL_MAX_LENGTH),
            FullMatch(LOGIN_NAME_PATTERN, error=CONTROL_CHARACTER.msg),
        ],
        metadata={"example": "johndoe"},
    )
    password = Text(required=True, validate=Length(min=1, max=PASSWORD_MAX_LENGTH))


class OAuth2PasswordFormIn(Schema):
    """Documents ``/token``'s form body: the OAuth2 password grant (RFC 6749
    4.3), as Swagger UI's Authorize button sends it."""

    grant_type = Text(metadata={"description": "password (OAuth2); ignored if given"})
    username = Text(
        required=True,
        validate=[
            Length(min=1, max=EMAIL_MAX_LENGTH),
            FullMatch(LOGIN_NAME_PATTERN, error=CONTROL_CHARACTER.msg),
        ],
        metadata={"description": "A username, or an email address"},
    )
    password = Text(required=True, validate=Length(min=1, max=PASSWORD_MAX_LENGTH))
    scope = Text(metadata={"description": "Ignored"})


class StrictBoolean(ma.fields.Boolean):
    """JSON ``true``/``false`` only: "yes" or 1 are a 422, not a guess."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class LogoutAllIn(Schema):
    # No load_default: a documented default makes the field required in
    # generated TypeScript types; the view reads a missing one as false.
    keep_current = StrictBoolean(
        error_messages={"invalid": NOT_BOOLEAN.msg, "null": NOT_NULL.msg},
        metadata={"description": "End every session but the caller's own (default false)"},
    )


class PasswordChangeIn(Schema):
    current_password = current_password()
    new_password = new_password()


class EmailIn(Schema):
    email = Email(required=True, metadata=EMAIL_DOC)


class PasswordResetIn(Schema):
    token = Text(required=True, validate=Length(min=1, max=100), metadata=MAILED_TOKEN_DOC)
    new_password = new_password()


class MailedTokenIn(Schema):
    token = Text(required=True, validate=Length(min=1, max=100), metadata=MAILED_TOKEN_DOC)


class PasswordIn(Schema):
    password = current_password()


# --- second factor ------------------------------------------------------------

TOTP_CODE_PATTERN = r"^[0-9]{6}$"
RECOVERY_CODE_PATTERN = r"^[A-Za-z0-9 -]+$"
SECOND_STEP_TOKEN_DOC = {
    "description": "second_factor.token from the 401 of /login or /token",
    "example": "Jq0m2VZ8rB2mK9sT0uW4yA6cE7gI5kN3oR1tV8wXzLk",
}


def totp_code(required: bool = True) -> Text:
    return Text(
        required=required,
        validate=FullMatch(TOTP_CODE_PATTERN, error=INVALID_TOTP_CODE.msg),
        metadata={"example": "492039", "description": "The code the authenticator app shows"},
    )


def _exactly_one(original: Any, names: tuple[str, ...], message: str) -> None:
    """Count what the client sent (not what survived validation), so that a
    bad value is not also reported as a missing one."""
    if isinstance(original, Mapping) and sum(name in original for name in names) != 1:
        raise ma.ValidationError(message)


class SecondStepIn(Schema):
    """The second step of a login: the token and exactly one factor."""

    token = Text(required=True, validate=Length(min=1, max=100), metadata=SECOND_STEP_TOKEN_DOC)
    code = totp_code(required=False)
    recovery_code = Text(
        validate=[
            Length(min=1, max=64),
            FullMatch(RECOVERY_CODE_PATTERN, error=INVALID_RECOVERY_CODE.msg),
        ],
        metadata={"example": "k7m2q-x4hpz", "description": "An unused recovery code"},
    )
    passkey = ma.fields.Dict(
        keys=ma.fields.String(),
        error_messages={"invalid": NOT_DICT.msg, "null": NOT_NULL.msg},
        metadata={
            "description": "The PublicKeyCredential (JSON) of navigator.credentials.get "
            "with the options of POST /passkeys/authenticate/options {token}"
        },
    )

    @ma.validates_schema(pass_original=True, skip_on_field_errors=False)
    def one_factor(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        _exactly_one(original, ("code", "recovery_code", "passkey"), ONE_FACTOR.msg)


class TotpCodeIn(Schema):
    code = totp_code()


class TotpDisableIn(Schema):
    """The password, or a current code: exactly one."""

    password = Text(
        validate=Length(min=1, max=PASSWORD_MAX_LENGTH),
        metadata={"example": "correct horse battery staple"},
    )
    code = totp_code(required=False)

    @ma.validates_schema(pass_original=True, skip_on_field_errors=False)
    def one_proof(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        _exactly_one(original, ("password", "code"), ONE_PROOF.msg)


# --- responses ----------------------------------------------------------------


class UserOut(Schema):
    id = ma.fields.Integer(required=True, metadata={"example": 1})
    username = ma.fields.String(required=True, metadata={"example": "johndoe"})
    email = ma.fields.String(required=True, metadata={"example": "john@example.com"})
    created_at = UtcDateTime(required=True, metadata={"example": "2026-02-07T10:30:00Z"})
    updated_at = UtcDateTime(required=True, metadata={"example": "2026-02-07T10:30:00Z"})
    email_verified = ma.fields.Boolean(
        required=True, metadata={"description": "The owner proved the address (a mailed link)"}
    )


class TokenOut(Schema):
    access_token = ma.fields.String(required=True, metadata={"description": "Opaque session id"})
    token_type = ma.fields.String(required=True, metadata={"example": "Bearer"})
    user_id = ma.fields.String(required=True, metadata={"example": "1"})
    expires_in = ma.fields.Integer(
        required=True, metadata={"description": "Idle lifetime in seconds", "example": 1800}
    )


class SessionOut(Schema):
    id = ma.fields.String(
        required=True, metadata={"description": "A handle, not the session id: it cannot log in"}
    )
    kind = ma.fields.String(required=True, metadata={"enum": ["cookie", "bearer"]})
    created_at = UtcDateTime(required=True)
    last_seen_at = UtcDateTime(required=True, metadata={"description": "Updated once a minute"})
    expires_at = UtcDateTime(required=True, metadata={"description": "If left unused"})
    ip = ma.fields.String(required=True, allow_none=True)
    user_agent = ma.fields.String(required=True, allow_none=True)
    current = ma.fields.Boolean(required=True, metadata={"description": "The caller's session"})


class LogoutAllOut(Schema):
    message = ma.fields.String(required=True, metadata={"example": "Logged out everywhere"})
    ended = ma.fields.Integer(required=True, metadata={"example": 3})


class MessageOut(Schema):
    message = ma.fields.String(required=True, metadata={"example": "Successfully logged out"})


class PasswordChangedOut(Schema):
    message = ma.fields.String(required=True, metadata={"example": "Password changed"})
    ended = ma.fields.Integer(
        required=True, metadata={"description": "Other sessions ended", "example": 2}
    )


class EventOut(Schema):
    type = ma.fields.String(required=True, metadata={"enum": sorted(EVENT_TYPES)})
    at = UtcDateTime(required=True)
    ip = ma.fields.String(required=True, allow_none=True)
    user_agent = ma.fields.String(required=True, allow_none=True)


class SecondFactorOut(Schema):
    totp = ma.fields.Boolean(required=True, metadata={"description": "TOTP is on"})
    passkeys = ma.fields.Integer(required=True, metadata={"example": 0})
    recovery_codes_left = ma.fields.Integer(required=True, metadata={"example": 10})


class TotpSetupOut(Schema):
    secret = ma.fields.String(
        required=True,
        metadata={"description": "Base32, for typing into the app", "example": "JBSWY3DPEHPK3PXP"},
    )
    otpauth_uri = ma.fields.String(
        required=True,
        metadata={
            "example": "otpauth://totp/Auth%20service:john%40example.com?secret=JBSWY3DPEHPK3PXP"
            "&issuer=Auth%20service"
        },
    )
    qr_svg = ma.fields.String(
        required=True, metadata={"description": "The otpauth URI as a QR code (an SVG document)"}
    )


class RecoveryCodesOut(Schema):
    recovery_codes = ma.fields.List(
        ma.fields.String(),
        required=True,
        metadata={
            "description": "Ten single-use codes, shown only now",
            "example": ["k7m2q-x4hpz"],
        },
    )


class SecondFactorChallengeOut(Schema):
    token = ma.fields.String(
        required=True,
        metadata={"description": "For POST /login/second-factor or /token/second-factor"},
    )
    methods = ma.fields.List(
        ma.fields.String(metadata={"enum": ["totp", "recovery_code", "passkey"]}), required=True
    )
    expires_in = ma.fields.Integer(required=True, metadata={"example": 300})


class PasswordStepErrorOut(Schema):
    """/login's and /token's 401: a detail, and second_factor only when the
    password was right and the account has a second factor."""

    detail = ma.fields.String(required=True, metadata={"example": "Invalid email or password"})
    second_factor = ma.fields.Nested(
        SecondFactorChallengeOut,
        metadata={"description": "Present only with detail 'Second factor required'"},
    )


# --- passkeys (WebAuthn) ---------------------------------------------------------
#
# A credential arrives as the browser's PublicKeyCredential.toJSON(): binary
# values in base64url. Its shape is checked here, strictly and with bounds,
# before py_webauthn (whose own decoder skips stray characters) sees it; what
# the service receives is rebuilt with only the fields it reads.

PASSKEY_NAME_DOC = {"example": "Laptop", "description": "Shown in the list; 1 to 64 characters"}


def base64url(max_length: int, **metadata: Any) -> Text:
    return Text(
        required=True,
        validate=[
            Length(min=1, max=max_length),
            FullMatch(r"^[A-Za-z0-9_-]+$", error=NOT_BASE64URL.msg),
        ],
        metadata={"format": "base64url", **metadata},
    )


def nested(schema: type[ma.Schema], **kwargs: Any) -> ma.fields.Nested:
    return ma.fields.Nested(
        schema, error_messages={"required": REQUIRED.msg, "null": NOT_NULL.msg}, **kwargs
    )


def not_blank(value: str) -> None:
    if not value.strip():
        raise ma.ValidationError(BLANK.msg)


def passkey_name() -> Text:
    return Text(
        required=True,
        validate=[
            Length(min=1, max=64),
            FullMatch(LOGIN_NAME_PATTERN, error=CONTROL_CHARACTER.msg),
            not_blank,
        ],
        metadata=PASSKEY_NAME_DOC,
    )


def public_key_type() -> Text:
    return Text(
        required=True,
        validate=ma.validate.OneOf(["public-key"], error=NOT_PUBLIC_KEY.msg),
        metadata={"example": "public-key"},
    )


class Part(Schema):
    """An object inside a body: its own message when it is not one."""

    error_messages = {"type": NOT_DICT.msg}


class AttestationResponseIn(Part):
    client_data_json = base64url(4096, description="clientDataJSON")
    attestation_object = base64url(16384, description="attestationObject")
    transports = ma.fields.List(
        Text(validate=Length(max=32)),
        validate=ma.validate.Length(max=10),
        error_messages={"invalid": NOT_LIST.msg, "null": NOT_NULL.msg},
    )

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field[Any]) -> None:
        field_obj.data_key = {
            "client_data_json": "clientDataJSON",
            "attestation_object": "attestationObject",
        }.get(field_name, field_name)


class AssertionResponseIn(Part):
    client_data_json = base64url(4096, description="clientDataJSON")
    authenticator_data = base64url(4096, description="authenticatorData")
    signature = base64url(2048)
    user_handle = Text(
        allow_none=True,
        validate=[Length(max=128), FullMatch(r"^[A-Za-z0-9_-]*$", error=NOT_BASE64URL.msg)],
        metadata={"format": "base64url", "description": "userHandle"},
    )

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field[Any]) -> None:
        field_obj.data_key = {
            "client_data_json": "clientDataJSON",
            "authenticator_data": "authenticatorData",
            "user_handle": "userHandle",
        }.get(field_name, field_name)


class AttestationCredentialIn(Part):
    """navigator.credentials.create()'s answer, as toJSON() writes it."""

    id = base64url(1366)
    raw_id = base64url(1366, description="rawId")
    type = public_key_type()
    response = nested(AttestationResponseIn, required=True)

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field[Any]) -> None:
        field_obj.data_key = "rawId" if field_name == "raw_id" else field_name

    @ma.post_load
    def to_json(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        response = data["response"]
        return {
            "id": data["id"],
            "rawId": data["raw_id"],
            "type": data["type"],
            "response": {
                "clientDataJSON": response["client_data_json"],
                "attestationObject": response["attestation_object"],
                "transports": response.get("transports") or [],
            },
        }


class AssertionCredentialIn(Part):
    """navigator.credentials.get()'s answer, as toJSON() writes it."""

    id = base64url(1366)
    raw_id = base64url(1366, description="rawId")
    type = public_key_type()
    response = nested(AssertionResponseIn, required=True)

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field[Any]) -> None:
        field_obj.data_key = "rawId" if field_name == "raw_id" else field_name

    @ma.post_load
    def to_json(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        response = data["response"]
        rebuilt = {
            "clientDataJSON": response["client_data_json"],
            "authenticatorData": response["authenticator_data"],
            "signature": response["signature"],
        }
        if response.get("user_handle"):
            rebuilt["userHandle"] = response["user_handle"]
        return {
            "id": data["id"],
            "rawId": data["raw_id"],
            "type": data["type"],
            "response": rebuilt,
        }


class PasskeyRegisterIn(Schema):
    credential = nested(AttestationCredentialIn, required=True)
    name = passkey_name()


class PasskeyRenameIn(Schema):
    name = passkey_name()


class PasskeyOptionsIn(Schema):
    token = Text(
        validate=Length(min=1, max=100),
        metadata={
            "description": "A second-step token (the password step's 401): options for that "
            "account's passkeys. Without it: a passwordless sign-in."
        },
    )


class PasskeyLoginIn(Schema):
    challenge_id = Text(
        required=True,
        validate=[Length(min=1, max=100), FullMatch(r"^[A-Za-z0-9_-]+$", error=NOT_BASE64URL.msg)],
        metadata={"description": "From POST /passkeys/authenticate/options"},
    )
    credential = nested(AssertionCredentialIn, required=True)


def camel(field: type[ma.fields.Field[Any]], name: str, **kwargs: Any) -> ma.fields.Field[Any]:
    """A response field named as WebAuthn names it (the options are py_webauthn's JSON)."""
    return field(attribute=name, data_key=name, **kwargs)


class PasskeyOut(Schema):
    id = ma.fields.Integer(required=True, metadata={"example": 1})
    name = ma.fields.String(required=True, metadata={"example": "Laptop"})
    created_at = UtcDateTime(required=True)
    last_used_at = UtcDateTime(required=True, allow_none=True)


class PasskeyRegisteredOut(PasskeyOut):
    recovery_codes = ma.fields.List(
        ma.fields.String(),
        metadata={
            "description": "Only when this passkey is the account's first second factor: "
            "ten single-use recovery codes, shown only now",
            "example": ["k7m2q-x4hpz"],
        },
    )


class CreationOptionsOut(Schema):
    """PublicKeyCredentialCreationOptions, JSON-encoded (binary as base64url):
    what navigator.credentials.create() takes, once decoded."""

    rp = ma.fields.Dict(required=True)
    user = ma.fields.Dict(required=True)
    challenge = ma.fields.String(required=True, metadata={"format": "base64url"})
    pub_key_cred_params = camel(
        ma.fields.List, "pubKeyCredParams", cls_or_instance=ma.fields.Dict(), required=True
    )
    timeout = ma.fields.Integer(required=True, metadata={"description": "Milliseconds"})
    exclude_credentials = camel(
        ma.fields.List, "excludeCredentials", cls_or_instance=ma.fields.Dict(), required=True
    )
    authenticator_selection = camel(ma.fields.Dict, "authenticatorSelection", required=True)
    attestation = ma.fields.String(required=True, metadata={"example": "none"})


class RequestOptionsOut(Schema):
    """PublicKeyCredentialRequestOptions, JSON-encoded (binary as base64url):
    what navigator.credentials.get() takes, once decoded; with the challenge
    id a passwordless sign-in sends back."""

    challenge_id = ma.fields.String(
        metadata={"description": "Passwordless sign-in only: send it to /passkeys/login"}
    )
    challenge = ma.fields.String(required=True, metadata={"format": "base64url"})
    timeout = ma.fields.Integer(required=True, metadata={"description": "Milliseconds"})
    rp_id = camel(ma.fields.String, "rpId", required=True)
    allow_credentials = camel(
        ma.fields.List, "allowCredentials", cls_or_instance=ma.fields.Dict(), required=True
    )
    user_verification = camel(ma.fields.String, "userVerification", required=True)
