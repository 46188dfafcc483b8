"""Safe YAML for every file themebt reads: plain data only, a repeated key or an impossible date is an error at
its line, and a document that refers to itself, nests too deep or expands through aliases is refused."""

from __future__ import annotations

import reprlib

import yaml

from backtest.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """yaml.safe_load's loader, except that a key given twice or an impossible date is an error at its line:
    plain safe_load keeps the last of two keys silently and raises a bare ValueError on 2024-13-45."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` may be overridden on purpose
            key = self.construct_object(key_node, deep=deep)
            try:
                twice = key in seen
                seen.add(key)
            except TypeError:
                continue  # SafeConstructor reports unhashable keys itself
            if twice:
                raise yaml.constructor.ConstructorError(None, None, f"the key '{key}' is given twice", key_node.start_mark)
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a real date ({exc})",
                                                    node.start_mark) from None


    def construct_object(self, node, deep=False):
        # explicit tags reach the scalar constructors with any text (`!!int abc`, `!!bool maybe`, 5000 digits),
        # and those raise plain ValueError, KeyError or AttributeError: make each an error at the value's line
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:
            tag = str(node.tag).rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown(getattr(node, 'value', ''))} cannot be read as {tag}"
                + ("" if isinstance(exc, (KeyError, AttributeError)) else f" ({short_reason(exc)})"),
                node.start_mark) from None

    def construct_refused(self, node):
        raise yaml.constructor.ConstructorError(
            None, None, f"a !!{str(node.tag).rsplit(':', 1)[-1]} value is not config data", node.start_mark)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)
for _tag in ("binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _Loader.construct_refused)

# A config is a few kilobytes; aliases can make a 600-byte file expand to billions of values
# ("billion laughs"). Counted with each alias expanded, a config may hold at most this many values
# and characters, and be at most this deep.
MAX_EXPANDED = 1_000_000
MAX_DEPTH = 40
_SHOWN = reprlib.Repr()
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong, _SHOWN.maxlevel = 80, 80, 40, 3
_SHOWN.maxlist = _SHOWN.maxdict = _SHOWN.maxtuple = 6


def shown(value) -> str:
    """A bounded repr of a config value for an error message: never the whole of a long or nested value."""
    try:
        return _SHOWN.repr(value)
    except Exception:  # noqa: BLE001 - a value that cannot even be shown is named by its type
        return f"<{type(value).__name__}>"


def short_reason(exc: BaseException) -> str:
    """The first line of an exception's text, short; never 'XError: ', which would read as a second error."""
    text = str(exc).splitlines()[0] if str(exc).strip() else ""
    return text[:120] if text else type(exc).__name__


def check_size(raw, file: str) -> None:
    """Refuse a document that refers to itself, is too deep, or expands (through aliases) beyond MAX_EXPANDED."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def fail(problem: str):
        raise ConfigError(file=file, field="(structure)", problem=problem,
                          fix="Write the values out plainly, without anchors and aliases that repeat each other.")

    def size(value, depth: int) -> int:
        if isinstance(value, str):
            return 1 + len(value)
        if not isinstance(value, (dict, list, tuple)):
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in active:
            fail("an alias refers to the value that contains it, so the config never ends")
        if depth > MAX_DEPTH:
            fail(f"nested more than {MAX_DEPTH} levels deep")
        active.add(key)
        total = 1
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        for item in items:
            total += size(item, depth + 1)
            if total > MAX_EXPANDED:
                fail(f"its aliases expand to more than {MAX_EXPANDED:,} values and characters")
        active.discard(key)
        sizes[key] = total
        return total

    size(raw, 0)


def parse_yaml(text: str, file: str):
    """YAML text as plain data, or a ConfigError at its line: the loader of configs, for every YAML themebt reads.

    Safe (no tags that build objects), a key given twice and an impossible date are errors, and a document
    that is self-referring, deeper than MAX_DEPTH or expands through aliases beyond MAX_EXPANDED is refused.
    """
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except RecursionError:
        raise ConfigError(file=file, field="(structure)", problem="nested too deeply to be a config",
                          fix="Start from one of the files in configs/.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(syntax)"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if "constructor for the tag" in problem:
            raise ConfigError(file=file, field=where, problem=f"the tag {problem.split('tag ')[-1]} is refused: a config "
                              "is plain data (text, numbers, dates, lists, mappings), never Python objects",
                              fix="Remove the !!tag and write a plain value.") from None
        if isinstance(exc, yaml.constructor.ConstructorError):
            raise ConfigError(file=file, field=where, problem=problem, fix="Correct the YAML at that position.") from None
        raise ConfigError(file=file, field=where, problem=f"YAML syntax error: {problem}", fix="Fix the YAML at that position.") from None
    except Exception as exc:  # noqa: BLE001 - whatever the YAML library raises, the file is the cause
        raise ConfigError(file=file, field="(file)", problem=f"cannot be read as YAML ({short_reason(exc)})",
                          fix="Start from one of the files in configs/.") from None
    if isinstance(raw, (dict, list)):
        check_size(raw, file)
    return raw
