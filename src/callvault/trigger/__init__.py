"""The real-time trigger API: an institution's system orders one call and gets its result by signed webhook."""
