"""HTTP views of the bookings API, one module per resource; ``bookings.api`` registers them all."""
