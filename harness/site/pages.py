"""Every page of the site (pure): the index, the plots, and a page per run, commit and bisect."""

from __future__ import annotations

from harness.site import svg
from harness.site.detail import detail_pages
from harness.site.facts import SiteInput
from harness.site.index import index_page
from harness.site.plots import plots
from harness.site.refs import Page


def plots_page(inp: SiteInput) -> Page:
    return Page(
        path="plots.html",
        template="plots.html.j2",
        context={"title": inp.title, "ref": inp.ref, "plots": [svg.render(p) for p in plots(inp)]},
    )


def pages(inp: SiteInput) -> list[Page]:
    return [index_page(inp), plots_page(inp), *detail_pages(inp)]
