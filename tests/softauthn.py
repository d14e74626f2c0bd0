"""A software WebAuthn authenticator for the tests (fast and real tiers).

It does what a browser and a platform authenticator do together: from the
options the service hands out it builds the JSON that
``PublicKeyCredential.toJSON()`` would send, with real cryptography (an EC
P-256 key per credential, ES256 signatures, "none" attestation), so the
service's verifier (py_webauthn) checks real payloads. Every field a test may
want to get wrong (origin, rp id, flags, counter, challenge, key) can be
overridden per call.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40
AAGUID = bytes.fromhex("00112233445566778899aabbccddeeff")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


def _cose_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    numbers = key.public_key().public_numbers()
    return cbor2.dumps(
        {
            1: 2,  # kty: EC2
            3: -7,  # alg: ES256
            -1: 1,  # crv: P-256
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
    )


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    return json.dumps(
        {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False},
        separators=(",", ":"),
    ).encode()


@dataclass
class SoftAuthenticator:
    rp_id: str = "localhost"
    origin: str = "http://localhost"
    user_verified: bool = True
    credentials: dict[bytes, Credential] = field(default_factory=dict)

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        user_verified: bool | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.create(): a new credential for the options' user."""
        rp = rp_id or options["rp"]["id"]
        key = ec.generate_private_key(ec.SECP256R1())
        credential_id = os.urandom(16)
        handle = unb64url(options["user"]["id"])
        self.credentials[credential_id] = Credential(credential_id, key, rp, handle)
        uv = self.user_verified if user_verified is None else user_verified
        flags = UP | AT | (UV if uv else 0)
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([flags])
            + struct.pack(">I", 0)
            + AAGUID
            + struct.pack(">H", len(credential_id))
            + credential_id
            + _cose_key(key)
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = _client_data(
            "webauthn.create", challenge or options["challenge"], origin or self.origin
        )
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        credential_id: bytes | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        user_verified: bool | None = None,
        sign_count: int | None = None,
        with_user_handle: bool = True,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.get(): an assertion by one of its credentials
        (the first allowed one, else the newest: a discoverable sign-in)."""
        if credential_id is None:
            allowed = [unb64url(item["id"]) for item in options.get("allowCredentials") or []]
            mine = [cid for cid in allowed if cid in self.credentials]
            credential_id = mine[0] if mine else list(self.credentials)[-1]
        credential = self.credentials[credential_id]
        credential.sign_count = credential.sign_count + 1 if sign_count is None else sign_count
        uv = self.user_verified if user_verified is None else user_verified
        rp = rp_id or credential.rp_id
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([UP | (UV if uv else 0)])
            + struct.pack(">I", credential.sign_count)
        )
        client_data = _client_data(
            "webauthn.get", challenge or options["challenge"], origin or self.origin
        )
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = (signing_key or credential.key).sign(signed, ec.ECDSA(hashes.SHA256()))
        response = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if with_user_handle:
            response["userHandle"] = b64url(credential.user_handle)
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        }

    def clone(self) -> SoftAuthenticator:
        """A copy with the same keys and counters, that counts on its own:
        what an attacker who extracted the keys would hold."""
        return copy.deepcopy(self)
