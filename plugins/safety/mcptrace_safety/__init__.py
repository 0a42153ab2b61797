"""The built-in safety rules and policies (strict, standard, permissive)."""
