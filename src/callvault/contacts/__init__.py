"""Contacts: call-list import (readers, phone normalisation, validation, error reports).

The database-free part of list import lives here; `pipeline.run_import` streams a file through
reading, mapping, validation and in-file dedupe into a `ContactSink`, which the database layer implements.
"""
