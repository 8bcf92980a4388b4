"""Background services: the supervised loops `serve`, `demo` and `callvault worker` run (docs/services.md)."""
