"""Typed, validated program templates: the model, the parameter kinds, the sandboxed engine, TOML packs.

``model`` says what a template is, ``kinds`` how each parameter is checked and rendered, ``engine``
renders a template (jinja2 is imported there, on first render), ``loader`` reads TOML packs and
``catalog`` collects every pack's templates by name. Nothing here depends on a backend: checking and
running a rendered program is the job of the tools that call ``render``.
"""
