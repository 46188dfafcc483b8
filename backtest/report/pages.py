"""The HTML pages' jinja2 templates (package data in backtest/report/templates/): compare.html and study.html."""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def templates():
    """The template environment: every value escaped unless a template marks it safe, and a name missing
    from the context an error rather than an empty string. Whitespace control as the templates describe."""
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("backtest.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


def render(template: str, context: dict[str, Any]) -> str:
    return templates().get_template(template).render(context)
