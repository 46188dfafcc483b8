"""User errors: each names the file, the field and the fix, and the CLI exits with code 2."""

from __future__ import annotations

import difflib


class ThemebtError(Exception):
    """A problem with the user's input. Any other exception is a bug."""

    template = "{problem}"
    # A message quotes the user's values; a pasted blob must not flood the terminal through it.
    max_field_chars = 1000

    def __init__(self, **fields):
        self.fields = fields
        super().__init__(self.template.format(**{k: _clip(v, self.max_field_chars) for k, v in fields.items()}))

    def __reduce__(self):
        # a sweep's worker processes send errors back pickled; the default rebuilds from the message alone
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls, args, state):
    error = Exception.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigError(ThemebtError):
    template = "{file}: {field}: {problem}. {fix}"


class DataError(ThemebtError):
    template = "{file}: {field}: {problem}. {fix}"


class EventError(ThemebtError):
    template = "{file}: {field}: {problem}. {fix}"


class StrategyError(ThemebtError):
    template = "{theme}: {problem}. {fix}"


class ResultsError(ThemebtError):
    template = "{path}: {problem}. {fix}"


def _clip(value, limit: int) -> str:
    text = str(value)
    return text if len(text) <= limit else f"{text[: limit - 40]}… ({len(text):,} characters in all)"


def did_you_mean(name: str, choices) -> str:
    """A 'did you mean' hint for an unknown name, or a list of the valid ones."""
    choices = sorted(str(c) for c in choices)
    close = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.6)
    if close:
        return f"Did you mean '{close[0]}'?"
    shown = ", ".join(choices[:20]) + (", …" if len(choices) > 20 else "")
    return f"Valid names: {shown}."
