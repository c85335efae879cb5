"""limen: an access gateway for non-human identities.

The hot path (wire framing, streaming masking, session-log writing) lives in
the native extension ``limen._native``; this package orchestrates it with Trio.
"""

from limen._native import __version__

__all__ = ["__version__"]
