"""A bounded, thread-safe LRU of response bytes for the edges (``/series``, dashboard pages).

Keys carry the data version read from the database for each request
(:func:`wastewater.analysis.series_version`, :func:`wastewater.analysis.data_version`), so a
cached body is never served after the data changed, in any worker process: nothing needs
invalidating across processes (old entries age out).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Hashable


class ByteCache:
    """Thread-safe LRU of response bytes, bounded in entries and bytes.

    Keys include the data version read from the database for each request, so a cached body
    is never served after the data changed, in any worker: no cross-process invalidation is
    needed (the old entries age out).
    """

    def __init__(self, max_entries: int = 2048, max_bytes: int = 128 * 2**20) -> None:
        self._data: collections.OrderedDict[Hashable, bytes] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._bytes = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: Hashable, value: bytes) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._data[key] = value
            self._bytes += len(value)
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._data.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0
