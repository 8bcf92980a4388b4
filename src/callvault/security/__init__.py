"""Database-free security primitives: the vault (envelope encryption, blind index, recording cipher),
masking, log redaction and the tamper-evident audit chain.

The ORM and API layers wire these into tables and routes; nothing here touches a database.
"""
