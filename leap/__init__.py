"""LEAP's shared shell: settings, command line, logging and thin Kafka wrappers."""
