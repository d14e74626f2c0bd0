"""Schemathesis hooks for tests/real/test_schemathesis.py (loaded through
``SCHEMATHESIS_HOOKS``)."""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

# `format: email` allows any RFC 5322 address; the service, like
# email-validator, also refuses special-use domains (.test, .local, .invalid,
# .localhost, ...), which no schema keyword can say. Valid addresses are drawn
# at RFC 2606's example domains, so that one the service refuses for its domain
# is not reported as a schema-valid body rejected (negative cases still get
# any string).
schemathesis.openapi.format(
    "email", st.emails(domains=st.sampled_from(["example.com", "example.org", "example.net"]))
)
