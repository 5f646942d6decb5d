"""Complaints about a booking: filed by its customer, handled and resolved by support."""
