"""study.html comes from a jinja2 template shipped as package data, rendered with autoescaping on."""

from __future__ import annotations

from importlib import resources

from click.testing import CliRunner

import backtest.research.study as research_study
from backtest.cli.main import main
from backtest.report import study_page


def test_text_in_the_study_page_is_escaped(tmp_path, monkeypatch):
    pages = []

    def hostile(study, meta, title, synthetic, links):
        meta = {**meta, "label": "<b>boj</b> & co", "data": {"source": "<script>x</script>"}}
        study.skipped.append({"id": "<i>e1</i>", "reason": "it's \"late\""})
        page = study_page.render_page(study, meta, title, synthetic, [('cmp"1/compare.html', "<u>cmp</u>")])
        pages.append(page)
        return page

    monkeypatch.setattr(research_study, "render_page", hostile)
    result = CliRunner().invoke(main, ["study", "--family", "boj", "--kind", "hike", "--basket", "1631,1632",
                                       "--out", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (page,) = pages
    for raw in ("<b>boj</b>", "<script>x</script>", "<i>e1</i>", "<u>cmp</u>"):
        assert raw not in page
    assert "<title>themebt study: &lt;b&gt;boj&lt;/b&gt; &amp; co</title>" in page
    assert "<strong>&lt;i&gt;e1&lt;/i&gt;</strong>: it&#39;s &#34;late&#34;</li>" in page
    assert 'href="cmp&#34;1/compare.html">&lt;u&gt;cmp&lt;/u&gt;</a>' in page
    assert "prices: &lt;script&gt;x&lt;/script&gt; (synthetic demo data, not market history).</p>" in page
    assert page.endswith("</main></body></html>\n")


def test_the_study_template_is_package_data():
    assert (resources.files("backtest.report") / "templates" / study_page.TEMPLATE).is_file()
