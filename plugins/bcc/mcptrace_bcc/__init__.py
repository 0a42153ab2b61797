"""The BCC backend: the BCC and libbpf tools installed on this host as safe, structured capabilities."""
