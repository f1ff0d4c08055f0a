"""Venue-shaped routes: one module per venue, mounted under /<venue> by the server."""
