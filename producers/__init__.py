"""Source adapters: pure parsers of each system's real exports and the shell that publishes them."""
