"""Worker income and settlement: income per booking and per period, settlement statements, payout
settings, and payouts from request to paid."""
