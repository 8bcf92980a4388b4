"""Authentication, permissions, audit and protection of customer data."""
