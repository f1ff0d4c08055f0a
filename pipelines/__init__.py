"""levwatch: an open warehouse for crypto leverage and contagion risk."""
