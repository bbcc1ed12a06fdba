"""Session stores, and the URL scheme that selects each."""
