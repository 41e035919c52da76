"""Citizens' website of the commitment ledger: static pages and assets (see site.py)."""
