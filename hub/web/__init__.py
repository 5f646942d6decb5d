"""The HTTP side of the hub: routes declared once as ``Operation``s (``openapi``), the JSON error
envelope and Bearer auth (``http``), and the core's views (``chat``, ``push``)."""
