"""Type stubs for the native extension (native/limen-py). Checked by
tests/test_native_stub.py against the built module."""

__version__: str

# --- limen-mask ---------------------------------------------------------------

# --- limen-record -------------------------------------------------------------
