"""Pages to HTML with Jinja2 (autoescape on: every text from upstream or a run is escaped), and
the plan of what a render writes: only pages whose digest changed, what is gone removed.

A page's digest is its context's JSON and its template's text: the same data renders the same
bytes, so an unchanged page is never rewritten, and a new harness with other templates rewrites
every page once.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jinja2
from markupsafe import Markup

from harness.site.refs import Page, root_of

STATIC = ("style.css",)  # copied to the site's root as they are


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.site", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a context key missing is the report's bug: loud
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["svg"] = Markup  # plots: harness's own SVG, every text in it escaped (site/svg.py)
    return env


def static_text(name: str) -> str:
    return importlib.resources.files("harness.site").joinpath("templates", name).read_text()


@functools.cache
def templates_digest() -> str:
    """The templates' and static files' text: a harness whose pages look otherwise rewrites them all."""
    root = importlib.resources.files("harness.site").joinpath("templates")
    texts = sorted((item.name, item.read_text()) for item in root.iterdir() if item.is_file())
    return hashlib.sha256(json.dumps(texts).encode()).hexdigest()


def digest(page: Page) -> str:
    doc = json.dumps([templates_digest(), page.template, page.context], sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()


def render(page: Page) -> str:
    return _environment().get_template(page.template).render(**page.context, root=root_of(page.path))


@dataclass(frozen=True, kw_only=True)
class SitePlan:
    write: tuple[tuple[str, str], ...]  # (path, text) of pages and static files that changed
    unchanged: int  # pages whose digest the manifest already holds
    remove: tuple[str, ...]  # what an earlier render wrote that this one does not make
    manifest: dict[str, str]  # path -> digest (pages) or source (linked files), for the next render


def plan_site(pages: Sequence[Page], links: Mapping[str, str], manifest: Mapping[str, str]) -> SitePlan:
    """What to write: pages (and static files) whose digest changed; `links` (site path ->
    source file) are kept in the manifest so the ones no longer planned are removed."""
    write: list[tuple[str, str]] = []
    after: dict[str, str] = {}
    for name in STATIC:
        text = static_text(name)
        after[name] = hashlib.sha256(text.encode()).hexdigest()
        if manifest.get(name) != after[name]:
            write.append((name, text))
    for page in pages:
        after[page.path] = digest(page)
        if manifest.get(page.path) != after[page.path]:
            write.append((page.path, render(page)))
    after.update({path: f"file:{source}" for path, source in links.items()})
    unchanged = len(pages) + len(STATIC) - len(write)
    return SitePlan(
        write=tuple(write), unchanged=unchanged, remove=tuple(sorted(set(manifest) - set(after))), manifest=after
    )
