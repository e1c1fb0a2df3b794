"""Passwords and tokens."""

from __future__ import annotations

import pytest

from loomsight.api.security import (
    CAMERA_TOKEN_PREFIX,
    hash_password,
    new_token,
    password_problem,
    token_sha256,
    verify_password,
)


def test_a_password_hash_is_salted_and_verifies_only_its_password() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")

    assert first != second  # salted
    assert first.startswith("scrypt$")
    assert verify_password("correct horse", first)
    assert verify_password("correct horse", second)
    assert not verify_password("correct horsE", first)


@pytest.mark.parametrize(
    "stored", ["", "plain", "scrypt$1$2$3", "md5$a$b$c$d$e", "scrypt$x$8$1$AA==$AA=="]
)
def test_a_malformed_stored_hash_never_verifies(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_tokens_are_random_prefixed_and_stored_as_sha256() -> None:
    tokens = {new_token(CAMERA_TOKEN_PREFIX) for _ in range(100)}

    assert len(tokens) == 100
    assert all(t.startswith(CAMERA_TOKEN_PREFIX) and len(t) > 40 for t in tokens)
    assert len(token_sha256(tokens.pop())) == 64


@pytest.mark.parametrize(
    ("password", "problem"), [("short", "at least 10"), ("a" * 9 + "\x00", "NUL")]
)
def test_weak_passwords_are_named(password: str, problem: str) -> None:
    assert problem in (password_problem(password) or "")
