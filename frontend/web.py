"""Rendering of the site's pages: the Jinja2 environment, the language of a request, the
chain settings readers need, and the headers every page carries.

A page is ``render(request, "name.html", lang, title=..., description=..., **context)``. Each
template sees:

- ``lang`` (:class:`frontend.i18n.Lang`) and ``t`` (its texts), ``plural``;
- ``url(path, **query)``: an internal link that keeps the language (``?lang=en``); ``None``
  values are left out, lists repeat the parameter;
- ``static(name)``: the versioned URL of a static asset (:mod:`frontend.assets`);
- ``chain``: :class:`ChainView` (network name, contract, deploy block, read-only RPC URL,
  explorer links);
- ``page``: title, description, canonical URL and the other language's URL (Open Graph and
  ``hreflang``).
- ``index_notice``: the "this overview is updated up to …" text when the index is stale
  (:func:`index_notice`), else ``None``.

Templates autoescape everything; ledger texts are other people's words and are never marked
safe. Pages carry a Content-Security-Policy without ``unsafe-inline``: scripts and styles come
from this origin only, and the browser may connect to this origin and the configured
read-only RPC URL (for the chain check) only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Mapping
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from babel.dates import format_timedelta
from markupsafe import Markup
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from frontend.assets import Assets
from frontend.i18n import DEFAULT, LANG_COOKIE, LANG_COOKIE_MAX_AGE_SECONDS, SUPPORTED, Lang, negotiate
from ledger.sources import split_source_id
from ledger.networks import TEST_CHAIN_IDS, network_name

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

SITE_NAME = {"nl": "Van belofte naar bewijs", "en": "From promise to proof"}


def content_security_policy(rpc_url: str) -> str:
    """The pages' CSP: same origin only, plus ``connect-src`` to the RPC URL's origin."""
    connect = "'self'"
    if rpc_url:
        parts = urlsplit(rpc_url)
        connect += f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


@dataclass(frozen=True)
class ChainView:
    """What a reader needs to check the site against the chain.

    Attributes:
        chain_id: EIP-155 chain id.
        network: the network's name (``ledger.networks``).
        contract: the ledger's address (EIP-55).
        deploy_block: block of the deployment (first block to read logs from).
        rpc_url: read-only JSON-RPC URL for the browser; ``""``: no in-browser check.
        explorer_url: block explorer base URL; ``""``: chain references without links.
        test_network: a test or local chain (records there have no lasting value).
    """

    chain_id: int
    network: str
    contract: str
    deploy_block: int
    rpc_url: str
    explorer_url: str
    test_network: bool

    def tx_url(self, tx_hash: str) -> str | None:
        return f"{self.explorer_url}/tx/{tx_hash}" if self.explorer_url else None

    def block_url(self, block_number: int) -> str | None:
        return f"{self.explorer_url}/block/{block_number}" if self.explorer_url else None

    def address_url(self, address: str) -> str | None:
        return f"{self.explorer_url}/address/{address}" if self.explorer_url else None


def chain_view(request: Request, lang: Lang | None = None) -> ChainView:
    """The chain settings of the app serving ``request`` (settings and deployment record);
    the network's name in ``lang`` when the texts have one (``network.<chain id>``) and the
    operator set none."""
    settings = request.app.state.settings
    deployment = request.app.state.deployment
    name = network_name(deployment.chain_id, settings.network_name)
    key = f"network.{deployment.chain_id}"
    if lang is not None and not settings.network_name and lang.has(key):
        name = lang.t(key)
    return ChainView(
        chain_id=deployment.chain_id,
        network=name,
        contract=deployment.contract_address,
        deploy_block=deployment.deploy_block,
        rpc_url=settings.public_rpc_url,
        explorer_url=settings.explorer_url,
        test_network=deployment.chain_id in TEST_CHAIN_IDS,
    )


def index_notice(request: Request, lang: Lang) -> str | None:
    """The notice every page shows when the index is older than ``head_stale_seconds`` (the
    indexer has not seen the chain head for that long): up to when it is updated, how long
    ago, and whether the chain answers (``stale.unreachable`` / ``stale.behind``); ``None``
    when fresh, before the indexer's first pass, or when the index cannot be read. The checkpoint
    and the node probe are the cached ones of ``api.freshness``.

    A page kept by ``api.caching`` stays exact only while this stays as it was: a page with
    the notice (whose "how long ago" moves) is not kept, one without it at most until the
    second the index would turn stale (``caching.cap_until``)."""
    from api import caching, freshness  # the API's modules; imported here, as the site is optional

    if getattr(request.app.state, "session_factory", None) is None:
        return None
    try:
        state = freshness.index_freshness(request.app).state()
        now = int(time.time())
        age = state.age_seconds(now)
        stale_after = request.app.state.settings.head_stale_seconds
        if age is None or age <= stale_after:
            caching.cap_until(request, None if state.head_seen_at is None else state.head_seen_at + stale_after + 1)
            return None
        caching.cap_until(request, now)
        key = "stale.behind" if freshness.node_probe(request.app).reachable() else "stale.unreachable"
        ago = format_timedelta(timedelta(seconds=age), locale=lang.locale)
        return lang.t(key, time=lang.datetime(state.head_seen_at), ago=ago)
    except Exception:  # a notice must never cost the page
        caching.cap_until(request, 0)
        return None


def request_lang(request: Request) -> Lang:
    """The language of ``request`` (:func:`frontend.i18n.negotiate`)."""
    code = negotiate(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    return Lang(code)


LangDep = Annotated[Lang, Depends(request_lang)]


def site_base(request: Request) -> str:
    """Public base URL of the site: ``LEDGER_SITE_URL``, else the request's own."""
    configured = request.app.state.settings.site_url
    return configured or str(request.base_url).rstrip("/")


def internal_url(path: str, lang_code: str, query: Mapping[str, Any] | None = None) -> str:
    """``path`` with ``query`` (``None`` and ``""`` left out, lists repeated) and ``lang``."""
    pairs: list[tuple[str, str]] = []
    for key, value in (query or {}).items():
        if key == "lang" or value is None or value == "" or value is False:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        pairs += [(key, "true" if v is True else str(v)) for v in values if v is not None and v != ""]
    pairs.append(("lang", lang_code))
    return f"{path}?{urlencode(pairs)}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "xml", "svg"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the code: no stat of each template on every page
    )
    # a source link's visible text: the on-chain source_uri without its #ledger-source=<id>
    env.filters["source_uri_text"] = lambda uri: split_source_id(uri or "")[0]
    return env


ENV = _environment()


def _assets(request: Request) -> Assets:
    assets = getattr(request.app.state, "site_assets", None)
    if assets is None:
        assets = request.app.state.site_assets = Assets()
    return assets


def render(
    request: Request,
    template: str,
    lang: Lang,
    *,
    title: str,
    description: str,
    status_code: int = 200,
    og_type: str = "website",
    image: str | None = None,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` in ``lang`` as an HTML response with the page headers.

    Args:
        title: the page's own title (the site name is appended in ``<title>``).
        description: one or two sentences for ``<meta name=description>`` and link previews.
        status_code: HTTP status (404 pages are pages too).
        og_type: Open Graph type (``website``, ``article``).
        image: absolute URL of a preview image, if any.
        context: the template's own variables.
    """
    chain = chain_view(request, lang)
    base = site_base(request)
    query = {k: request.query_params.getlist(k) for k in request.query_params.keys() if k != "lang"}
    canonical = base + internal_url(request.url.path, lang.code, query)
    other_url = internal_url(request.url.path, lang.other, query)
    assets = _assets(request)
    html = ENV.get_template(template).render(
        lang=lang,
        t=lang.t,
        th=lambda key: Markup(lang.t(key)),  # our own texts with markup (links, <code>); never ledger texts
        plural=lang.plural,
        url=lambda path, **q: internal_url(path, lang.code, q),
        static=assets.url,
        chain=chain,
        index_notice=index_notice(request, lang),
        site_name=SITE_NAME[lang.code],
        page={
            "title": title,
            "description": description,
            "canonical": canonical,
            "other_lang_url": other_url,
            "alternates": {code: base + internal_url(request.url.path, code, query) for code in SUPPORTED},
            "og_type": og_type,
            "image": image,
            "path": request.url.path,
            "error": status_code >= 400,
        },
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers={
        "Content-Security-Policy": content_security_policy(chain.rpc_url),
        "Cache-Control": "no-cache",  # nosniff, Referrer-Policy, X-Frame-Options: api.edges, on every response
        "Vary": "Accept-Language, Cookie",
        "Content-Language": lang.code,
        **(headers or {}),
    })
    chosen = request.query_params.get("lang", "").strip().lower()
    if chosen in SUPPORTED and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(LANG_COOKIE, chosen, max_age=LANG_COOKIE_MAX_AGE_SECONDS, samesite="lax", httponly=True)
    return response


__all__ = ["ChainView", "LangDep", "render", "request_lang", "internal_url", "site_base", "chain_view", "DEFAULT"]
