"""General-purpose built-in stages (no heavy dependencies). Importing this package registers them."""
