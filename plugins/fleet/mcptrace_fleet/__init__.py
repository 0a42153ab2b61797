"""mcptrace fleet: run a trace on many hosts over SSH and merge the results."""
