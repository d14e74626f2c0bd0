"""The mails an account receives: what they say, in plain text and HTML.

Each mail that carries a token carries exactly one link with ``token=``;
notices (after a change, a reset, a deletion) carry none, so a notice
forwarded or leaked gives nobody a way in. Every interpolated value is
escaped in the HTML part.
"""

from __future__ import annotations

from markupsafe import escape

from app.mail import Message

SERVICE = "Auth service"


def _message(to: str, subject: str, lines: list[str], link: str | None = None) -> Message:
    text = "\n\n".join([*lines, link] if link else lines) + "\n"
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in lines)
    if link:
        paragraphs += f'<p><a href="{escape(link)}">{escape(link)}</a></p>'
    html = f"<!doctype html><html><body>{paragraphs}</body></html>"
    return Message(to=to, subject=f"{SERVICE}: {subject}", text=text, html=html)


def verify_address(to: str, username: str, link: str, hours: int) -> Message:
    return _message(
        to,
        "confirm your email address",
        [
            f"Hello {username},",
            f"Please confirm that this address is yours by opening the link below "
            f"within {hours} hours.",
            "If you did not create an account, you can ignore this mail.",
        ],
        link,
    )


def reset_password(to: str, username: str, link: str, minutes: int) -> Message:
    return _message(
        to,
        "reset your password",
        [
            f"Hello {username},",
            f"Someone asked to reset the password of your account. The link below "
            f"lets you choose a new one within {minutes} minutes, once.",
            "If it was not you, ignore this mail: your password stays as it is.",
        ],
        link,
    )


def password_changed(to: str, username: str, ended: int) -> Message:
    return _message(
        to,
        "your password was changed",
        [
            f"Hello {username},",
            f"The password of your account was just changed, and {ended} other "
            "session(s) were signed out.",
            "If it was not you, reset your password at once and review your "
            "account's recent activity.",
        ],
    )


def password_was_reset(to: str, username: str) -> Message:
    return _message(
        to,
        "your password was reset",
        [
            f"Hello {username},",
            "The password of your account was just reset with a mailed link, and "
            "every session was signed out.",
            "If it was not you, reset it again and check who can read this mailbox.",
        ],
    )


def account_deleted(to: str, username: str) -> Message:
    return _message(
        to,
        "your account was deleted",
        [
            f"Hello {username},",
            "Your account was deleted, and every session signed out. This address "
            "and your username are free again.",
            "If it was not you, the person who did it knew your password: change it "
            "wherever else you use it.",
        ],
    )


def totp_enabled(to: str, username: str, ended: int) -> Message:
    return _message(
        to,
        "two-factor authentication turned on",
        [
            f"Hello {username},",
            "An authenticator app was just added to your account: signing in now "
            f"asks for its code after the password, and {ended} other session(s) "
            "were signed out.",
            "If it was not you, someone else holds your password and can now lock you "
            "out: reset your password at once and review your account's recent activity.",
        ],
    )


def totp_disabled(to: str, username: str, ended: int) -> Message:
    return _message(
        to,
        "two-factor authentication turned off",
        [
            f"Hello {username},",
            "The authenticator app of your account was just removed: signing in no "
            f"longer asks for its code, and {ended} other session(s) were signed out.",
            "If it was not you, reset your password at once, turn two-factor "
            "authentication on again and review your account's recent activity.",
        ],
    )


def recovery_codes_regenerated(to: str, username: str) -> Message:
    return _message(
        to,
        "new recovery codes",
        [
            f"Hello {username},",
            "A new set of recovery codes was just made for your account; the old "
            "codes no longer work.",
            "If it was not you, reset your password at once and review your "
            "account's recent activity.",
        ],
    )


def passkey_added(to: str, username: str, name: str, ended: int) -> Message:
    return _message(
        to,
        "a passkey was added",
        [
            f"Hello {username},",
            f"A passkey named “{name}” was added to your account, and {ended} other "
            "session(s) were signed out. It can now sign in to your account.",
            "If it was not you, sign in, remove that passkey, and change your password.",
        ],
    )


def passkey_removed(to: str, username: str, name: str, ended: int) -> Message:
    return _message(
        to,
        "a passkey was removed",
        [
            f"Hello {username},",
            f"The passkey named “{name}” was removed from your account, and {ended} "
            "other session(s) were signed out. It can no longer sign in.",
            "If it was not you, change your password and review your account's recent activity.",
        ],
    )
