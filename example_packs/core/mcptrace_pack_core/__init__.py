"""The core example pack: package data (pack.toml, examples/**/*.toml) and its plugin module."""
