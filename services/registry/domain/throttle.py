"""Slowing down password guessing: failed logins counted per account and per address.

After ``per_account`` failures for one account within ``window`` seconds, or ``per_address``
failures from one address, further attempts are refused without looking at the password
(TOOMANYREQUESTS with the seconds to wait) until the oldest failure leaves the window. A
successful login clears its account's count. Counts live in memory: a restart forgets them,
which costs an attacker a restart each time, and the registry stays the only one who decides.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import time
from collections.abc import Callable

from services.kit import errors


class LoginThrottled(errors.ResourceExhausted):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, reason="TOOMANYREQUESTS")
        self.retry_after = max(1, math.ceil(retry_after))


@dataclasses.dataclass
class LoginThrottle:
    per_account: int = 5
    per_address: int = 20
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _accounts: dict[str, collections.deque[float]] = dataclasses.field(default_factory=dict)
    _addresses: dict[str, collections.deque[float]] = dataclasses.field(default_factory=dict)

    def check(self, account: str, address: str) -> None:
        """Raise LoginThrottled if ``account`` or ``address`` failed too often lately."""
        now = self.clock()
        for table, key, limit, what in (
            (self._accounts, account, self.per_account, f"account {account!r}"),
            (self._addresses, address, self.per_address, f"address {address}"),
        ):
            times = self._recent(table, key, now)
            if limit > 0 and len(times) >= limit:
                wait = times[0] + self.window - now
                raise LoginThrottled(
                    f"too many failed logins for {what}; retry in {math.ceil(wait)} s", wait
                )

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        for table, key in ((self._accounts, account), (self._addresses, address)):
            self._recent(table, key, now).append(now)

    def succeeded(self, account: str) -> None:
        self._accounts.pop(account, None)

    def _recent(
        self, table: dict[str, collections.deque[float]], key: str, now: float
    ) -> collections.deque[float]:
        times = table.setdefault(key, collections.deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(table) > 100_000:  # a flood of names: forget the quiet ones
            for stale in [k for k, v in table.items() if not v and k != key]:
                del table[stale]
        return times
