"""The HTTP driver (``protocol = "http"``): :class:`HttpSession` and its
modules, one per job: ``head`` (raw head checks against smuggling),
``reader`` (requests with h11), ``route`` (resource and token),
``problem`` (limen's own answers), ``headers``, ``upstream``, ``relay``
(judge, hold, forward, mask, record), ``session``."""

from limen.gateway.http.session import HttpSession

__all__ = ["HttpSession"]
