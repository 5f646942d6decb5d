"""Workers (profiles, vetting, certificates) and customers (profiles, saved addresses)."""
