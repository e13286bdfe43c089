"""Where secrets are found in config: a file's `fn::secret` marking, live secret-looking keys."""

from __future__ import annotations

from pgsync.core.masking import (
    DEFAULT_SECRET_KEYS,
    holds_secret,
    is_secret_setting,
    touches_secret,
)


def test_a_marking_at_any_depth_is_a_secret_of_a_file() -> None:
    assert holds_secret({"db": [{"port": 1}, {"password": {"fn::secret": "x"}}]})


def test_a_secret_looking_key_is_no_marking() -> None:
    assert not holds_secret({"db": {"password": "x"}, "port": 1})


def test_a_secret_setting_at_any_depth_is_a_live_secret() -> None:
    assert holds_secret([{"db": [{"apiKey": "k1"}]}], DEFAULT_SECRET_KEYS)


def test_live_secrets_follow_the_patterns_given() -> None:
    assert holds_secret([{"connString": "c"}], ("conn-string",))
    assert not holds_secret([{"password": "x"}], ("conn-string",))


def test_a_null_setting_holds_no_live_secret() -> None:
    assert not is_secret_setting("password", None)
    assert not holds_secret([{"password": None}], DEFAULT_SECRET_KEYS)


def test_a_live_marking_key_is_data_but_what_it_holds_is_searched() -> None:
    assert not is_secret_setting("fn::secret", "x")
    assert not holds_secret([{"fn::secret": "x"}], DEFAULT_SECRET_KEYS)
    assert holds_secret([{"fn::secret": {"token": "t"}}], DEFAULT_SECRET_KEYS)


def test_scalars_hold_no_secret() -> None:
    assert not holds_secret("password")
    assert not holds_secret("password", DEFAULT_SECRET_KEYS)


def test_a_secret_path_is_touched_by_itself_what_lies_inside_and_what_holds_it() -> None:
    secrets = [("db", "password")]
    assert touches_secret(("db", "password"), secrets)
    assert touches_secret(("db", "password", "old"), secrets)
    assert touches_secret(("db",), secrets)
    assert touches_secret((), secrets)


def test_a_sibling_of_a_secret_does_not_touch_it() -> None:
    assert not touches_secret(("db", "port"), [("db", "password")])
    assert not touches_secret(("cache",), [("db", "password")])
    assert not touches_secret(("db",), [])
