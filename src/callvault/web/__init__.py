"""Server-rendered consoles (Jinja2 + HTMX), in Chinese and English."""
