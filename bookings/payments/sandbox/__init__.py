"""Local sandboxes that play each payment provider's documented side, for tests and demo mode."""
