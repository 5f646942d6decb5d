"""The payment providers: one interface (``base.PaymentProvider``), three protocols."""
