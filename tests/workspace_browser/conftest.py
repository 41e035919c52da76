"""The staff workspace in a browser (Playwright, Debian's chromium). Its own folder, not
tests/e2e: it builds its own stack and needs none of that folder's shared session fixtures, so
under xdist it runs as a unit of its own, beside the e2e folder, not after it."""

from tests.e2e.site_browser import browser  # noqa: F401 - the site's browser fixture (chromium, headless)
