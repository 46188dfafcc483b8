"""No code from data: configs and event files are only read, themes come from strategies/ or a declared
plugin entry point, results stay inside the results folder, and credentials never leave the environment."""

from __future__ import annotations

import re
import sys
import textwrap

import pytest
import requests
import yaml
from click.testing import CliRunner

import strategies.registry as registry
from backtest import safeyaml
from backtest.cli.main import main
from backtest.config import load_config, spec_from_mapping
from backtest.errors import ConfigError, StrategyError
from tests.conftest import REPO
from tests.trust.conftest import FAKE_SECRETS, run_args, run_folders, start

SOURCES = sorted([*(REPO / "backtest").rglob("*.py"), *(REPO / "strategies").rglob("*.py")])
# Constructs that turn text into running code, and the only files allowed to use each.
FORBIDDEN = {
    r"(?<![\w.])eval\(": (),
    r"(?<![\w.])exec\(": (),
    r"\.eval\(|\.query\(": (),  # pandas evaluates expression strings
    r"__import__\(": (),
    r"\bpickle\b|\bmarshal\b|\bshelve\b|read_pickle|allow_pickle=True": (),
    r"yaml\.(unsafe_load|full_load|load_all)\(|yaml\.(Unsafe|Full)?Loader\b": (),
    r"yaml\.load\(": ("backtest/safeyaml.py",),  # with a SafeLoader subclass, checked below
    r"import_module\(": ("strategies/registry.py", "backtest/cli/main.py"),  # fixed package names only
}


@pytest.mark.parametrize("pattern", sorted(FORBIDDEN))
def test_no_source_file_turns_text_into_code(pattern):
    allowed = FORBIDDEN[pattern]
    hits = []
    for path in SOURCES:
        rel = str(path.relative_to(REPO))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(pattern, code) and rel not in allowed:
                hits.append(f"{rel}:{n}: {line.strip()}")
    assert hits == []


def test_the_config_loader_is_a_safe_loader():
    assert issubclass(safeyaml._Loader, yaml.SafeLoader)
    assert "tag:yaml.org,2002:python/object" not in str(safeyaml._Loader.yaml_multi_constructors)


def test_a_python_tag_in_a_config_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    config = tmp_path / "config.yaml"
    config.write_text(f'theme: boj_rotation\nname: !!python/object/apply:os.mkdir ["{marker}"]\n')
    with pytest.raises(ConfigError, match="is refused: a config is plain data") as err:
        load_config(config)
    assert "line 2" in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("theme", ["os.system", "json.tool", "strategies.boj_rotation:BojRotation", "../boj_rotation",
                                   "strategies/boj_rotation.py"])
def test_a_theme_is_a_registered_name_never_an_import_path(theme):
    registry.discover()
    before = set(sys.modules)
    with pytest.raises(ConfigError, match="looks like an import path, and a config never names code"):
        spec_from_mapping({"theme": theme}, "config.yaml")
    assert set(sys.modules) - before == set(), "nothing may be imported because a config named it"


PLUGIN = '''
    from strategies.base import ThemeStrategy


    class PluginRotation(ThemeStrategy):
        """Hold the benchmark: a theme installed from a package."""

        params = dict(basket=("1631",))

        def target_weights(self, view):
            return {view.benchmark: 1.0} if view.is_first else None


    NOT_A_THEME = 42
'''


@pytest.fixture
def plugin_site(tmp_path, monkeypatch):
    """An installed-looking package whose metadata declares entry points; returns a function to declare them."""
    site = tmp_path / "site"
    (site / "fake_themes").mkdir(parents=True)
    (site / "fake_themes" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "fake_themes-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-themes\nVersion: 1.0\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_THEMES", dict(registry._THEMES))
    yield lambda lines: (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{lines}\n")
    sys.modules.pop("fake_themes", None)


def test_an_installed_package_adds_a_theme_through_its_entry_point(plugin_site):
    plugin_site("plugin_rotation = fake_themes:PluginRotation")
    assert "plugin_rotation" in registry.discover()
    spec = spec_from_mapping({"theme": "plugin_rotation"}, "config.yaml")
    assert spec.theme_cls.__name__ == "PluginRotation" and spec.params == {"basket": ("1631",)}
    result = CliRunner().invoke(main, ["themes"], catch_exceptions=False)
    assert "plugin_rotation" in result.output and "a theme installed from a package" in result.output


@pytest.mark.parametrize(("line", "problem"), [
    ("../evil = fake_themes:PluginRotation", "a theme key is lowercase letters, digits and _"),
    ("not_a_theme = fake_themes:NOT_A_THEME", "does not name a ThemeStrategy subclass"),
    ("missing = fake_themes_missing:Theme", "cannot be imported (ModuleNotFoundError"),
    ("boj_rotation = fake_themes:PluginRotation", "'boj_rotation' is already the theme BojRotation"),
])
def test_a_broken_plugin_is_a_clear_error(plugin_site, line, problem):
    plugin_site(line)
    with pytest.raises(StrategyError, match=re.escape(problem)):
        registry.discover()
    result = CliRunner().invoke(main, ["themes"])
    assert result.exit_code == 2 and "themebt.themes" in result.stderr and "Traceback" not in result.output


def test_credentials_never_reach_results_logs_or_messages(tmp_path, demo_config):
    out = tmp_path / "results"
    bad = tmp_path / "bad.yaml"
    bad.write_text("theme: boj_rotation\nexecution: {comission_bps: 3}\n")
    procs = [start(run_args(demo_config, out), **FAKE_SECRETS), start(run_args(bad, out), **FAKE_SECRETS)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [p.returncode for p in procs] == [0, 2], outputs
    texts = [text for pair in outputs for text in pair]
    (folder,) = run_folders(out)
    texts += [p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file()]
    for name, secret in FAKE_SECRETS.items():
        assert not any(secret in text for text in texts), f"{name} leaked"


def test_a_server_echoing_the_key_does_not_put_it_in_the_error():
    from backtest.data.http import HttpClient
    from backtest.data.jquants import JQuants

    key = FAKE_SECRETS["JQUANTS_API_KEY"]

    class EchoingServer:
        def request(self, method, url, params=None, headers=None, **kwargs):
            response = requests.Response()
            response.status_code = 401
            response._content = f'{{"message": "invalid x-api-key {headers.get("x-api-key")}"}}'.encode()
            response.url = url
            return response

    source = JQuants(api_key=key, http=HttpClient("jquants", session=EchoingServer(), sleep=lambda s: None))
    with pytest.raises(Exception) as err:
        source.fetch("7203", "2024-01-04", "2024-01-31")
    assert "jquants" in str(err.value) and key not in str(err.value)
