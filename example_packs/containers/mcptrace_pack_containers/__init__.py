"""Example pack: tracing containers from the host. Data: pack.toml and examples/*.toml."""
