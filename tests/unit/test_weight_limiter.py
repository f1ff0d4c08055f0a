"""The client-side limiter on an injected clock: the pacing is asserted exactly, and nothing waits in real time."""

from pipelines.venues.http import WeightLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic_s(self) -> float:  # the part of a Clock a limiter reads
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_full_window_waits_until_the_oldest_request_leaves_it():
    clock = FakeClock()
    limiter = WeightLimiter(3, 60, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.settle(limiter.acquire())
        clock.now += 1  # one request a second
    assert clock.slept == []
    limiter.acquire()  # the 4th: the first left the window at 60 s
    assert clock.now == 60.0 and clock.slept == [57.0]


def test_the_window_counts_from_the_answer_not_the_reservation():
    """The venue counts a request when it arrives. A first request whose answer took 2 s may have arrived up to
    2 s after we reserved it, so the next window starts from its answer, not from its reservation."""
    clock = FakeClock()
    limiter = WeightLimiter(2, 60, clock=clock, sleep=clock.sleep)
    first = limiter.acquire()
    clock.now = 2.0  # a slow answer (a new connection, a busy venue)
    limiter.settle(first)
    limiter.settle(limiter.acquire())  # at 2 s, answered at once
    limiter.acquire()
    assert clock.now == 62.0  # not 60: at 60 s the venue could still count both earlier requests


def test_weight_spent_elsewhere_counts_too():
    clock = FakeClock()
    limiter = WeightLimiter(10, 60, clock=clock, sleep=clock.sleep)
    limiter.observe(9)  # the venue's usage header: another process spent 9
    limiter.settle(limiter.acquire())
    clock.now = 30.0
    limiter.acquire(weight=2)
    assert clock.now == 60.0
