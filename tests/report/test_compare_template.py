"""compare.html comes from a jinja2 template shipped as package data, rendered with autoescaping and
StrictUndefined: text from the runs can never become markup, and a misspelt name fails loudly."""

from __future__ import annotations

import configparser
from importlib import resources
from pathlib import Path

import jinja2
import pytest

from backtest.report.compare import compare_runs, event_markers
from backtest.report.compare_page import TEMPLATE, render_page
from backtest.report.pages import templates
from tests.report.test_compare import _series, write_run_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def comparison(tmp_path):
    r1, b = _series(1)
    r2, _ = _series(2, beta=0.8, edge=0.0003)
    one = write_run_folder(tmp_path / "run-a1b2", "alpha_theme", r1, b)
    two = write_run_folder(tmp_path / "run-c3d4", "beta_theme", r2, b)
    return compare_runs([one, two])


def test_text_from_the_runs_is_escaped(comparison):
    c = comparison
    c.warnings = ['<script>alert("x")</script> & more']
    c.metrics["alpha_theme"]["untraded"] = {"<b>7203</b>": {"untraded_share": 0.25, "volume_known": False}}
    page = render_page(c, event_markers(c), 'q"s.html', [('study"1/study.html', "<i>boj</i>")])
    assert "<script>" not in page and "<b>7203</b>" not in page and "<i>boj</i>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more" in page
    assert "&lt;b&gt;7203&lt;/b&gt; 25.00% (no volume data)" in page
    assert 'href="q&#34;s.html"' in page and 'href="study&#34;1/study.html" class="link-study"' in page
    assert page.endswith("</main></body></html>\n")


def test_holdings_not_recorded_and_none(comparison):
    c = comparison
    c.metrics["alpha_theme"]["untraded"] = None
    c.metrics["beta_theme"]["untraded"] = {}
    page = render_page(c, event_markers(c), None)
    assert '<td colspan="2">not recorded (a run from an older version)</td>' in page
    assert '<td colspan="2">no holdings</td>' in page
    assert 'id="quantstats-report"' not in page and 'id="link-quantstats"' not in page


def test_a_missing_value_is_an_error_not_an_empty_string():
    with pytest.raises(jinja2.UndefinedError):
        templates().get_template(TEMPLATE).render({})


def test_the_template_is_package_data_and_holds_the_markup():
    assert (resources.files("backtest.report") / "templates" / TEMPLATE).is_file()
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert "report/templates/*.j2" in cfg["options.package_data"]["backtest"]
    source = (ROOT / "backtest" / "report" / "compare_page.py").read_text(encoding="utf-8")
    for tag in ("<table", "<tr", "<td", "<figure id", "<h2", "<html"):
        assert tag not in source, tag
