"""``bridge.cli.signals``: which signals a command turns into exceptions, and which it leaves."""

from __future__ import annotations

import signal

import pytest

from bridge.cli.signals import Terminated, signals_raise

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP (Windows)")


@pytest.fixture
def restored():
    """Each signal's handler as it was before the test."""
    numbers = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {number: signal.getsignal(number) for number in numbers}
    yield
    for number, handler in before.items():
        signal.signal(number, handler)


def test_an_ignored_sighup_stays_ignored(restored) -> None:
    """``nohup`` ignores SIGHUP: the handler put over it had stopped a nohup'd batch or
    ``submit --wait`` when its terminal closed."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with signals_raise(Terminated):
        signal.raise_signal(signal.SIGHUP)  # ignored: nothing happens
        with pytest.raises(Terminated) as raised:
            signal.raise_signal(signal.SIGTERM)
    assert raised.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_the_names_given_raise_and_are_put_back(restored) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with signals_raise(Terminated, ("SIGINT",)):
        with pytest.raises(Terminated) as raised:
            signal.raise_signal(signal.SIGINT)
    assert raised.value.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
