"""Every behaviour of the endpoint table (docs/API.md) again, on a real Redis and a real PostgreSQL.

The fast tier's tests are collected here as they are; the fixtures of
tests/real/conftest.py point them at the real services.
"""

from tests.fast.test_errors import (  # noqa: F401
    TestLoginInput,
    test_malformed_json_is_400,
    test_oversized_body_is_413_before_parsing,
    test_wrong_content_type_is_415,
)
from tests.fast.test_passkeys import (  # noqa: F401
    TestPasswordlessSignIn,
    TestSecondFactor,
    authenticator,
    signed_in,
)
from tests.fast.test_password_security import TestNoTruncation, TestRehash  # noqa: F401
from tests.fast.test_register import (  # noqa: F401
    TestDuplicates,
    TestSuccess,
    test_duplicate_json_keys_take_the_last_value,
    test_invalid_input_is_422_per_field_and_changes_nothing,
    test_the_422_message_of_the_contract,
    test_unknown_fields_are_ignored,
)
from tests.fast.test_second_factor import (  # noqa: F401
    TestPasswordStep,
    TestSecondStep,
    clock,
    enrolled,
    test_of_two_hosts_checking_one_code_at_once_only_one_accepts_it,
)
from tests.fast.test_session_management import (  # noqa: F401
    TestCli,
    TestList,
    TestLogoutAll,
    TestRevokeOne,
    devices,
    test_all_three_need_a_session,
    test_last_seen_is_written_at_most_once_a_minute,
)
from tests.fast.test_session_security import (  # noqa: F401
    TestCookie,
    TestCrossSite,
    TestLifecycle,
    test_no_store_wherever_credentials_or_user_data_travel,
)
from tests.fast.test_sessions import (  # noqa: F401
    TestBadCredentials,
    TestCookieLogin,
    TestLogout,
    TestMe,
    TestToken,
)


def test_readyz_on_real_services(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}
