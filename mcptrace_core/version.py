"""The installed version of mcptrace, read lazily from the distribution metadata."""

from functools import cache


@cache
def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("mcptrace")
    except PackageNotFoundError:
        return "0+unknown"
