"""Choosing the staff token: ``--token``, else ``--token-file`` (JSON object
``{municipality_code: token}``), else the ``LEDGER_STAFF_TOKEN`` environment variable."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from .errors import TokenNotFoundError

TOKEN_ENV_VAR = "LEDGER_STAFF_TOKEN"


def resolve_token(
    code: str, *, token: str | None, token_file: Path | None, environ: Mapping[str, str]
) -> str:
    """The token to use for municipality ``code``.

    Raises:
        TokenNotFoundError: if both flags are given, the token file is unreadable or not a JSON
            object of strings, it has no entry for ``code`` (the message lists the codes it
            has, never a token), or nothing is given at all.
    """
    if token and token_file:
        raise TokenNotFoundError("give either --token or --token-file, not both")
    if token:
        return token
    if token_file is not None:
        try:
            tokens = json.loads(token_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TokenNotFoundError(f"cannot read the token file {token_file}: {exc}") from None
        if not isinstance(tokens, dict) or not all(isinstance(v, str) for v in tokens.values()):
            raise TokenNotFoundError(f"the token file {token_file} must be a JSON object {{municipality_code: token}}")
        if code not in tokens or not tokens[code]:
            raise TokenNotFoundError(
                f"the token file {token_file} has no token for {code!r} (it has: {sorted(tokens) or 'none'})"
            )
        return tokens[code]
    if environ.get(TOKEN_ENV_VAR):
        return environ[TOKEN_ENV_VAR]
    raise TokenNotFoundError(f"no staff token: pass --token, --token-file or set {TOKEN_ENV_VAR}")
