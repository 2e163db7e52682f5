"""Cross-cutting pieces of the shim: settings, errors, logging, metrics, middleware."""
