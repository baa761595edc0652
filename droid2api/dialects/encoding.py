"""This module holds what every front's StreamEncoder shares: turning one IR event into the method for its kind.

A front's encoder subclasses ``EventEncoder`` and writes ``on_start``,
``on_part_start``, ``on_delta``, ``on_part_stop``, ``on_finish`` and
``on_error`` (each returns the bytes to send; the defaults send nothing), and
sets ``_done`` once its stream has ended, after which nothing is sent. The
lookup is by the event's exact type: this runs once per upstream event.
"""

from __future__ import annotations

from .. import ir

_METHODS = {ir.Start: "on_start", ir.PartStart: "on_part_start", ir.Delta: "on_delta", ir.PartStop: "on_part_stop",
            ir.Finish: "on_finish", ir.StreamError: "on_error"}


class EventEncoder:
    _done = False

    def encode(self, event) -> bytes:
        if self._done:
            return b""
        method = _METHODS.get(type(event))
        return getattr(self, method)(event) if method else b""

    def on_start(self, event: ir.Start) -> bytes:
        return b""

    def on_part_start(self, event: ir.PartStart) -> bytes:
        return b""

    def on_delta(self, event: ir.Delta) -> bytes:
        return b""

    def on_part_stop(self, event: ir.PartStop) -> bytes:
        return b""

    def on_finish(self, event: ir.Finish) -> bytes:
        return b""

    def on_error(self, event: ir.StreamError) -> bytes:
        return b""
