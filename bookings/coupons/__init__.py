"""Coupons, the customers' wallets of them, and the campaigns that hand them out."""
