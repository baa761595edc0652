"""This module lets a worker answer a repeated read of rarely written entries without asking SQLite.

Every request reads its route's breaker and key states (routing/), which
change only when an upstream fails; the read itself is cheap in a loop but
costs a request ~40 µs with SQLite's code and pages cold in the CPU's caches
between requests, about a tenth of the gateway's own time on a relayed call.

``ChangeMarks`` is a small file beside the database (``store.sqlite3-marks``)
that every process of the host maps into memory: one 8-byte slot per
namespace (hashed into ``SLOTS``). A process that commits a write to a
namespace then stamps a new mark, unique to it, in that namespace's slot.
``ReadCache`` keeps the rows a ``get_many`` returned with the mark its slot
held *before* the database was asked: while the slot still holds that mark,
no process of the host has committed a write to the namespace since, and the
remembered rows (less those that have expired since) are the answer. A commit
the read missed stamps after it, so after the mark was read: the next read
sees a different mark and asks the database. Reading a slot is one memory
load; a stamp is one store, atomic for an aligned 8-byte word.

Only the SQLite store uses it: it is the one every writer of the data is on
this host. A namespace written on every request (counters) just never hits.
"""

from __future__ import annotations

import itertools
import logging
import mmap
import os
import struct
import zlib

log = logging.getLogger(__name__)

SLOTS = 64
MAX_ENTRIES = 512  # cached reads per process; past it the cache starts over (keys can be client-made)
_WORD = struct.Struct("<Q")
_stamps = itertools.count(1)  # one sequence per process, whatever the number of stores in it


def _new_mark() -> int:
    """A mark no other stamp of any process makes: this process's id, then its next number."""
    return os.getpid() << 40 | next(_stamps) & (1 << 40) - 1


class ChangeMarks:
    """The marks file at ``path``, mapped shared; created 0600 like the database beside it."""

    def __init__(self, path: str):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < SLOTS * _WORD.size:
                os.ftruncate(fd, SLOTS * _WORD.size)
            self._map = mmap.mmap(fd, SLOTS * _WORD.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)

    @staticmethod
    def _offset(namespace: str) -> int:
        return zlib.crc32(namespace.encode()) % SLOTS * _WORD.size

    def read(self, namespace: str) -> int:
        return _WORD.unpack_from(self._map, self._offset(namespace))[0]

    def stamp(self, namespaces):
        """A new mark in the slot of each of ``namespaces``."""
        mark = _new_mark()
        for namespace in namespaces:
            _WORD.pack_into(self._map, self._offset(namespace), mark)

    def stamp_all(self):
        mark = _new_mark()
        for offset in range(0, SLOTS * _WORD.size, _WORD.size):
            _WORD.pack_into(self._map, offset, mark)


class ReadCache:
    """``get_many`` answers by (namespace, keys), each valid while its namespace's mark is unchanged."""

    def __init__(self, marks: ChangeMarks):
        self.marks = marks
        self._entries = {}  # (namespace, keys tuple) -> (mark, {key: (value, expires)})

    def mark(self, namespace: str) -> int:
        """Read before asking the database; pass it to ``keep`` with the rows."""
        return self.marks.read(namespace)

    def get(self, namespace: str, keys: tuple, now: float):
        """The live values remembered for these keys, or None when the namespace has changed or nothing is kept."""
        kept = self._entries.get((namespace, keys))
        if kept is None or kept[0] != self.marks.read(namespace):
            return None
        return {key: value for key, (value, expires) in kept[1].items() if expires > now}

    def keep(self, namespace: str, keys: tuple, mark: int, rows: dict):
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[(namespace, keys)] = (mark, rows)

    def clear(self):
        self._entries.clear()
