"""A real-time messaging and notification hub for home-services platforms."""

__version__ = "0.1.0"
