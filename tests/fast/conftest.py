"""The fast tier runs no mail delivery thread, whatever configuration an app is
built from (a production one turns it on): tests call ``Outbox.deliver_due``
themselves, and a thread left running would outlive its test."""

from __future__ import annotations

from typing import Any

import pytest

from app import mail


@pytest.fixture(autouse=True)
def mail_threads_started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The apps whose factory would have started a delivery thread."""
    started: list[Any] = []
    monkeypatch.setattr(mail, "start_delivery", started.append)
    return started
