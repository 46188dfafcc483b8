"""Named universes (configs/universes/<name>.yaml): tickers with names and sectors, so configs name a list instead of repeating it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from backtest.errors import ConfigError, did_you_mean

UNIVERSE_DIR = Path(__file__).resolve().parents[2] / "configs" / "universes"
_TICKER = re.compile(r"^(TOPIX|[0-9][0-9A-Z]{3})$")
_TOP_KEYS = ("name", "description", "benchmark", "tickers")
_MEMBER_KEYS = ("code", "name", "sector", "group")


@dataclass(frozen=True)
class Member:
    code: str
    name: str
    sector: str
    group: str = ""


@dataclass(frozen=True)
class Universe:
    name: str
    description: str
    benchmark: str
    members: tuple[Member, ...]
    file: str

    @property
    def tickers(self) -> list[str]:
        return [m.code for m in self.members]

    def with_benchmark(self) -> list[str]:
        """Every ticker to fetch for this universe: the benchmark first."""
        return list(dict.fromkeys([self.benchmark, *self.tickers]))


def universe_names(folder: Path = UNIVERSE_DIR) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def universe_path(name_or_path: str | Path, folder: Path = UNIVERSE_DIR) -> Path:
    """A universe file from a path, or from a bare name looked up in configs/universes/."""
    from backtest.safeio import expand_user

    path = expand_user(str(name_or_path), lambda problem: ConfigError(
        file=str(name_or_path), field="universe", problem=problem, fix="Give the universe file's full path."))
    if path.is_file():
        return path
    named = folder / f"{Path(str(name_or_path)).stem}.yaml"
    if named.is_file():
        return named
    raise ConfigError(
        file=str(name_or_path), field="universe", problem="no such universe file",
        fix=f"{did_you_mean(Path(str(name_or_path)).stem, universe_names(folder))} "
            f"Universes live in {folder}.",
    )


def load_universe(name_or_path: str | Path, folder: Path = UNIVERSE_DIR) -> Universe:
    path = universe_path(name_or_path, folder)
    file = str(path)
    from backtest.safeyaml import parse_yaml
    from backtest.safeio import SMALL_FILE_BYTES, read_user_text

    # the one file reader and the config loader: regular files only, bounded, every YAML error at its line
    text = read_user_text(path, SMALL_FILE_BYTES, lambda problem: ConfigError(
        file=file, field="(file)", problem=problem, fix="Follow the layout of the files in configs/universes/."))
    raw = parse_yaml(text, file)
    if not isinstance(raw, dict):
        raise ConfigError(file=file, field="(top level)", problem="expected a mapping with name, benchmark and tickers",
                          fix="Follow the layout of the files in configs/universes/.")
    for key in raw:
        if key not in _TOP_KEYS:
            raise ConfigError(file=file, field=str(key), problem="unknown key", fix=did_you_mean(str(key), _TOP_KEYS))
    members = raw.get("tickers")
    if not isinstance(members, list) or not members:
        raise ConfigError(file=file, field="tickers", problem="expected a non-empty list",
                          fix='List members as  - {code: "7203", name: Toyota Motor, sector: ...}')
    seen: dict[str, int] = {}
    out = []
    for i, item in enumerate(members):
        field = f"tickers[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(file=file, field=field, problem="expected a mapping with code, name and sector",
                              fix='Write  - {code: "7203", name: Toyota Motor, sector: ...}')
        for key in item:
            if key not in _MEMBER_KEYS:
                raise ConfigError(file=file, field=f"{field}.{key}", problem="unknown key",
                                  fix=did_you_mean(str(key), _MEMBER_KEYS))
        code = item.get("code")
        if not isinstance(code, str):
            raise ConfigError(file=file, field=f"{field}.code", problem=f"expected a quoted string, got {code!r}",
                              fix='Quote codes so YAML keeps them as text, e.g. code: "1306".')
        if not _TICKER.match(code):
            raise ConfigError(file=file, field=f"{field}.code", problem=f"{code!r} is not a TSE code",
                              fix="Use a 4-character code such as 7203 or 130A, or TOPIX.")
        if code in seen:
            raise ConfigError(file=file, field=f"{field}.code", problem=f"{code} is listed twice (also tickers[{seen[code]}])",
                              fix="Keep one entry per code.")
        seen[code] = i
        for key in ("name", "sector"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise ConfigError(file=file, field=f"{field}.{key}", problem="missing", fix=f"Give the member's {key}.")
        out.append(Member(code, item["name"], item["sector"], str(item.get("group") or "")))
    benchmark = raw.get("benchmark", "TOPIX")
    if not isinstance(benchmark, str):
        raise ConfigError(file=file, field="benchmark", problem=f"expected a string, got {benchmark!r}",
                          fix='Write benchmark: TOPIX, or a quoted code such as "1306".')
    return Universe(str(raw.get("name") or path.stem), str(raw.get("description") or ""), benchmark, tuple(out), file)
