"""Password guessing on the console is slowed down per address and user name, and per address."""

from __future__ import annotations

from ivr.admin.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_for_one_user_make_that_address_wait_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(pair_limit=5, address_limit=20, window_s=900, clock=clock)
    for _ in range(4):
        throttle.failed("10.0.0.1", "anna")
        clock.now += 10
    assert throttle.retry_after("10.0.0.1", "anna") is None
    throttle.failed("10.0.0.1", "Anna ")  # same user, however typed
    assert throttle.retry_after("10.0.0.1", "anna") == 900 - 40
    clock.now += 900 - 40
    assert throttle.retry_after("10.0.0.1", "anna") is None


def test_other_addresses_and_other_users_are_not_held_up() -> None:
    throttle = LoginThrottle(pair_limit=2, address_limit=20, clock=Clock())
    for _ in range(2):
        throttle.failed("10.0.0.1", "anna")
    assert throttle.retry_after("10.0.0.1", "anna") is not None
    assert throttle.retry_after("10.0.0.2", "anna") is None  # a stranger cannot lock anna out everywhere
    assert throttle.retry_after("10.0.0.1", "bram") is None


def test_one_address_spraying_many_user_names_is_stopped() -> None:
    throttle = LoginThrottle(pair_limit=5, address_limit=6, clock=Clock())
    for n in range(6):
        throttle.failed("10.0.0.9", f"user{n}")
    assert throttle.retry_after("10.0.0.9", "someone-new") is not None


def test_a_successful_login_clears_its_own_failures() -> None:
    throttle = LoginThrottle(pair_limit=3, clock=Clock())
    for _ in range(2):
        throttle.failed("10.0.0.1", "anna")
    throttle.succeeded("10.0.0.1", "anna")
    for _ in range(2):
        throttle.failed("10.0.0.1", "anna")
    assert throttle.retry_after("10.0.0.1", "anna") is None
