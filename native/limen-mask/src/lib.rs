//! limen-mask: placeholder, being written.
