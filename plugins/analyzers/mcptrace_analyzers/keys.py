"""Map keys as people read them: stack keys shortened to their innermost frames."""

from __future__ import annotations


def display_key(key: str | None) -> str:
    """A key for people: stack keys become 'frame0 <- frame1 <- ...' (innermost first)."""
    if key is None:
        return ""
    if not key:
        return "(empty)"
    if "\n" not in key:
        return key
    frames = [frame.strip() for frame in key.split("\n") if frame.strip()]
    return " <- ".join(frames[:4]) + (" <- ..." if len(frames) > 4 else "")


def subject(name: str, key: str | None) -> str:
    return name if key is None else f"{name}[{display_key(key)}]"
