"""Money: payment providers and their sandboxes, the ledger, refunds (``bookings.payments``)."""
