"""Users, roles, permissions, sessions and API clients."""
