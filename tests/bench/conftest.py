"""Fixtures of the bench tests."""

import pytest


class EpochTwoInterrupt:
    """Ctrl-C inside a `bench.train` run: its evaluation (``predict``) raises KeyboardInterrupt on its second call,
    in epoch 2, after epoch 1's row and checkpoint are written. ``arm()`` before the run, ``disarm()`` to resume."""

    def __init__(self, monkeypatch):
        from bench.training import loop

        self._monkeypatch, self._train, self._real = monkeypatch, loop, loop.predict

    def arm(self) -> None:
        calls = []

        def predict(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return self._real(*args, **kwargs)

        self._monkeypatch.setattr(self._train, "predict", predict)

    def disarm(self) -> None:
        self._monkeypatch.setattr(self._train, "predict", self._real)


@pytest.fixture
def interrupt_in_epoch_2(monkeypatch):
    return EpochTwoInterrupt(monkeypatch)
