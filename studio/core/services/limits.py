"""Counting limits kept in the cache: shared by every process on Redis, per process without it.

One counter per key and window; the first hit opens the window, which ends `seconds` later.
"""

from dataclasses import dataclass

from django.core.cache import cache

PREFIX = "limit"


@dataclass(frozen=True)
class Limit:
    name: str
    allowed: int
    seconds: int

    def _key(self, *parts) -> str:
        return ":".join([PREFIX, self.name, *map(str, parts)])

    def spend(self, *parts) -> bool:
        """Count one more; False once this window's allowance is used up (refused tries count too)."""
        key = self._key(*parts)
        cache.add(key, 0, self.seconds)
        try:
            used = cache.incr(key)
        except ValueError:  # the window ended between add and incr
            cache.add(key, 1, self.seconds)
            used = 1
        return used <= self.allowed

    def used_up(self, *parts) -> bool:
        return (cache.get(self._key(*parts)) or 0) >= self.allowed

    def extend(self, *parts) -> None:
        """Restart the window from now: a lock-out lasts its whole time after the last failure."""
        cache.touch(self._key(*parts), self.seconds)

    def reset(self, *parts) -> None:
        cache.delete(self._key(*parts))
