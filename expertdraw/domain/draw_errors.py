"""The one exception of the draw engine (draw.md), with a stable ``code``.

Codes, by family (the part after the first ``:`` names what is wrong):

- ``invalid:<what>``: the input does not have the shape draw.md requires (``invalid:snapshot``,
  ``invalid:algorithm``, ``invalid:entropy``, ``invalid:secret``, ``invalid:seed``,
  ``invalid:lottery``, ``invalid:replacement``, ``invalid:body``, ``invalid:project``,
  ``invalid:excluded``, ``invalid:supplementary``);
- ``infeasible:<why>``: the request cannot be met, found before anything is announced (draw.md §2):
  ``infeasible:candidates:<stratum>``, ``infeasible:groups:<stratum>``, ``infeasible:members``,
  ``infeasible:venues``, ``infeasible:rooms``, ``infeasible:rfc3797:strata``;
- ``insufficient:<stratum>`` and ``insufficient:seats``: this draw's walk fell short (draw.md §4,
  §5); the ``draw.failed`` reason, which replays.
"""

from __future__ import annotations


class DrawError(Exception):
    """A draw cannot go on as asked.

    ``code`` is stable and machine-readable (the API maps it to problem+json, ``draw.failed``
    records it as ``reason``); ``message`` is for people and may change.
    """

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code if message is None else f"{code}: {message}")
        self.code = code
        self.message = code if message is None else message
