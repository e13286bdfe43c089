"""Random fault mixes: seeded per-request failures and latency, for resilience tests.

The kinds: `429` (with Retry-After), `500`/`502`/`503`/`504` (no effect), `reset` (the
connection closed without an answer; a write either before or after taking effect), `slow-body`
(reads: the headers at once, the body in pieces after pauses), `timeout` (the answer held back
`hang_seconds`; a write either took effect or gets a 504 without), `drop-write` (a 204 that did
nothing) and `after-effect-5xx` (the write done, then a 503).

Each request draws its fate from one `random.Random(seed)` in arrival order, always consuming
the same four numbers, so the same request sequence meets the same faults and the same delays.
A timeout that lets a write land later than its answer would make outcomes depend on thread
timing; instead a hung write either took effect before the hang or never takes effect.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pgsync.emulator.app import Request, Response, error_response
from pgsync.emulator.control import is_write

KINDS = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "slow-body",
    "timeout",
    "drop-write",
    "after-effect-5xx",
)
# A write's success answer has no body to trickle; a read has no effect to drop or keep.
_WRITES_ONLY = frozenset({"drop-write", "after-effect-5xx"})
_READS_ONLY = frozenset({"slow-body"})

FIXTURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "rate": {"type": "number", "minimum": 0, "maximum": 1},
        # YAML reads a bare 429 as a number: take it as the status it names.
        "kinds": {
            "type": "array",
            "items": {"enum": [*KINDS, *(int(k) for k in KINDS if k.isdigit())]},
            "minItems": 1,
        },
        "seed": {"type": "integer"},
        **{
            key: {"type": "number", "minimum": 0}
            for key in ("latency", "jitter", "retryAfter", "slowBodySeconds", "hangSeconds")
        },
    },
}


@dataclass(frozen=True)
class FaultMix:
    """Each request fails with probability `rate`, its kind drawn uniformly from `kinds`."""

    seed: int
    rate: float
    kinds: tuple[str, ...]
    latency: float = 0.0
    jitter: float = 0.0
    retry_after: float = 1.0
    slow_body_seconds: float = 1.0
    # Longer than pgsync's default 30 s timeout, so that the client really gives up.
    hang_seconds: float = 35.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown:
            raise ValueError(
                f"unknown fault kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}"
            )
        if not self.kinds:
            raise ValueError("a fault mix needs at least one kind")
        if not 0 <= self.rate <= 1:
            raise ValueError("the fault rate must be between 0 and 1")
        for name in ("latency", "jitter", "retry_after", "slow_body_seconds", "hang_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    def describe(self) -> str:
        """One line for people: the rate, the kinds, the seed and the latency."""
        text = f"{self.rate * 100:g}% of requests fail ({', '.join(self.kinds)}), seed {self.seed}"
        if self.latency or self.jitter:
            text += f"; latency {self.latency:g}s ± {self.jitter:g}s"
        return text


def mix_from_fixture(data: Mapping[str, Any]) -> FaultMix:
    """The mix of a fixture's `faults:` mapping (already checked against FIXTURE_SCHEMA)."""
    return FaultMix(
        seed=int(data.get("seed", 0)),
        rate=float(data.get("rate", 0.0)),
        kinds=tuple(str(kind) for kind in data.get("kinds", KINDS)),
        latency=float(data.get("latency", 0.0)),
        jitter=float(data.get("jitter", 0.0)),
        retry_after=float(data.get("retryAfter", 1.0)),
        slow_body_seconds=float(data.get("slowBodySeconds", 1.0)),
        hang_seconds=float(data.get("hangSeconds", 35.0)),
    )


@dataclass(frozen=True)
class Draw:
    """One request's fate: a fault kind (None: none), its effect order and the latency."""

    kind: str | None
    after_effect: bool
    delay: float


@dataclass(frozen=True)
class Outcome:
    """How to answer: `response` None closes the connection; pauses are in seconds."""

    response: Response | None
    fault: str | None = None
    hang: float = 0.0
    body_gap: float = 0.0


def jittered(rng: random.Random, seconds: float, jitter: float) -> float:
    """`seconds` ± up to `jitter`, uniformly, never negative; always draws one number."""
    return max(0.0, seconds + rng.uniform(-jitter, jitter))


class FaultInjector:
    """Draws and carries out the faults of one mix; not thread-safe (the server locks it)."""

    def __init__(self, mix: FaultMix) -> None:
        self.mix = mix
        self._rng = random.Random(mix.seed)

    def draw(self, request: Request) -> Draw:
        """The next request's fate; kinds that cannot apply to it are not drawn."""
        rng = self._rng
        hit = rng.random() < self.mix.rate
        pick = rng.random()
        after_effect = rng.random() < 0.5
        delay = jittered(rng, self.mix.latency, self.mix.jitter)
        excluded = _READS_ONLY if is_write(request.method, request.path) else _WRITES_ONLY
        kinds = [kind for kind in self.mix.kinds if kind not in excluded]
        kind = kinds[int(pick * len(kinds))] if hit and kinds else None
        return Draw(kind, after_effect, delay)

    def outcome(self, draw: Draw, request: Request, handle: Callable[[], Response]) -> Outcome:
        """Answer `request` as `draw` says; `handle` performs it for real (its effect)."""
        kind = draw.kind
        write = is_write(request.method, request.path)
        if kind is None:
            return Outcome(handle())
        if kind == "429":
            retry_after = str(math.ceil(self.mix.retry_after))
            return Outcome(
                error_response(429, "Too many requests", {"Retry-After": retry_after}), kind
            )
        if kind.isdigit():
            return Outcome(error_response(int(kind), "Injected fault"), kind)
        if kind == "drop-write":
            return Outcome(Response(204), kind)
        if kind == "after-effect-5xx":
            handle()
            return Outcome(error_response(503, "Injected fault after the effect"), kind)
        if kind == "slow-body":
            return Outcome(handle(), kind, body_gap=self.mix.slow_body_seconds)
        label = kind if not write else f"{kind} ({_effect(draw.after_effect)})"
        if kind == "reset":
            if write and draw.after_effect:
                handle()
            return Outcome(None, label)
        # A timeout: the answer comes after `hang_seconds`, when the client has likely given
        # up; a write that never took effect gets the gateway's 504.
        if write and not draw.after_effect:
            return Outcome(
                error_response(504, "Gateway timeout"), label, hang=self.mix.hang_seconds
            )
        return Outcome(handle(), label, hang=self.mix.hang_seconds)


def _effect(after: bool) -> str:
    return "after effect" if after else "no effect"


class RateLimiter:
    """The service's rate limit: a token bucket holding one second's worth of requests."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp: float | None = None

    def take(self, now: float) -> float:
        """Spend a token and return 0, or return the seconds until one is available."""
        if self.stamp is not None:
            self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate
