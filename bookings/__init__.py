"""The booking, payment and review HTTP API attached to the hub."""
