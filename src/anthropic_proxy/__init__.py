"""anthropic-proxy: a recording proxy for the Anthropic Messages API.

A request travels proxy -> (translate) -> record -> monitor; each stage is a package.
"""

__version__ = "0.1.0"
