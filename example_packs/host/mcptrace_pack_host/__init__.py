"""The host pack: the bpftrace tools installed on this machine, indexed at run time, never copied."""
