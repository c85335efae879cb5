"""How a session ends on an error: :class:`SessionEnd`, and one error out
of a task group.

A session runs its relay in Trio nurseries, so an error in one of its
tasks (a client gone as a channel closes, an upstream reset) reaches
:meth:`limen.gateway.session.Session.run` wrapped in an exception group.
:func:`single_error` picks the error the session ends on, so the group is
handled as the bare error would be; a group holding anything else (a
cancellation, a bug) is left to propagate.
"""

from __future__ import annotations

__all__ = ["SessionEnd", "leaves", "single_error"]


class SessionEnd(Exception):
    """End the session with a fatal error to the client."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The group's exceptions, nested groups flattened, in order."""
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(leaves(exc))
        else:
            out.append(exc)
    return out


def single_error(
    group: BaseExceptionGroup[BaseException], kinds: tuple[type[BaseException], ...]
) -> BaseException | None:
    """The error to handle for ``group``: the first leaf of the earliest
    kind in ``kinds`` (earlier kinds are the more telling), or None when
    some leaf is of none of them."""
    found = leaves(group)
    if not found or not all(isinstance(exc, kinds) for exc in found):
        return None
    for kind in kinds:
        for exc in found:
            if isinstance(exc, kind):
                return exc
    return None  # unreachable: every leaf matched some kind
