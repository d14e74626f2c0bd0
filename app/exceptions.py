"""What can go wrong in an account use case, named as facts.

Plain exceptions with no HTTP in them: ``app/errors.py`` is the one place
that maps each to a status, a ``detail`` message and headers.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An expected failure of a use case, safe to report to the client."""


class EmailTaken(ServiceError):
    """Another account already has this email address."""


class UsernameTaken(ServiceError):
    """Another account already has this username."""


class InvalidCredentials(ServiceError):
    """Unknown account or wrong password: deliberately one failure, not two."""


class NotAuthenticated(ServiceError):
    """The request carries no live session."""


class SessionNotFound(ServiceError):
    """No session of the caller's account has this handle."""


class Throttled(ServiceError):
    """Too many attempts from this client, or on this account, for now."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after  # whole seconds until a place frees up


class PasswordWorkBusy(ServiceError):
    """This host's budget for password hashing is spent for the moment."""


class WrongPassword(ServiceError):
    """The account's password, asked again before a sensitive change, is wrong."""


class WrongCurrentPassword(WrongPassword):
    """The same, when changing the password."""


class InvalidSecondFactor(ServiceError):
    """A wrong, used or replayed TOTP code, recovery code or passkey assertion."""


class SecondFactorRequired(ServiceError):
    """The password was right; the account's second factor must follow, with this token."""

    def __init__(self, token: str, methods: list[str], expires_in: int) -> None:
        super().__init__("second factor required")
        self.token = token
        self.methods = methods
        self.expires_in = expires_in


class InvalidSecondStepToken(ServiceError):
    """A second-step token unknown, spent, expired, of another flow, or from
    before a password change."""


class InvalidTotpCode(ServiceError):
    """The code that should confirm or disable TOTP is wrong."""


class NoTotpSetup(ServiceError):
    """Confirming TOTP with no setup pending (never started, or expired)."""


class TotpAlreadyEnabled(ServiceError):
    """The account already has a TOTP authenticator."""


class TotpNotEnabled(ServiceError):
    """The account has no TOTP authenticator to disable."""


class NoSecondFactor(ServiceError):
    """Recovery codes asked for by an account with no second factor."""


class InvalidResetToken(ServiceError):
    """A reset token unknown, spent, expired, or issued before the password changed."""


class InvalidVerificationToken(ServiceError):
    """A verification token unknown, spent, expired, or for another address."""


class InvalidPasskey(ServiceError):
    """A passkey sign-in that does not verify: unknown or foreign credential,
    spent or expired challenge, bad signature, counter gone backwards."""


class InvalidPasskeyRegistration(ServiceError):
    """A new passkey's attestation does not verify, or its challenge is spent or expired."""


class PasskeyNotFound(ServiceError):
    """No passkey of the caller's account has this id."""


class TooManyPasskeys(ServiceError):
    """The account already has as many passkeys as it may."""
