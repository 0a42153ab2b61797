"""The bpftrace backend: host capabilities, probes, running programs and reading their errors."""
