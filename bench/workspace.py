"""What signing in to the staff workspace costs (``ledger.accounts``), with the production
defaults: argon2id at argon2-cffi's defaults (64 MiB, 3 passes, 4 lanes; RFC 9106's second
recommended option), a sign-in (password, TOTP code, lock-out bookkeeping, session) on SQLite,
an unknown login (it must cost the same: no timing tells which logins exist), and the check of
a session cookie that every workspace request makes, against a bare ``SELECT 1`` on the same
database. Prints figures and ratios; asserts nothing.

    .venv/bin/python -m bench.workspace [--rounds 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from ledger.accounts import StaffAccounts
from ledger.db.engine import create_schema, make_engine, session_factory
from ledger.errors import SignInRefusedError


def _median_ms(work: Callable[[int], object], rounds: int) -> float:
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        work(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="repetitions of each step (median shown)")
    rounds = parser.parse_args().rounds
    accounts = StaffAccounts()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        create_schema(engine)
        factory = session_factory(engine)
        people = []
        with factory() as session, session.begin():
            for i in range(rounds):
                people.append(accounts.create(session, municipality_id=1, login=f"bench{i}", display_name="Bench",
                                              roles=["registrar"], signer="0x" + "11" * 20, now=1_800_000_000))
        hash_ms = _median_ms(lambda i: accounts.hasher.hash("correct horse battery staple"), rounds)
        stored = accounts.hasher.hash("correct horse battery staple")
        verify_ms = _median_ms(lambda i: accounts.hasher.verify(stored, "correct horse battery staple"), rounds)

        def sign_in(i: int) -> None:
            account, credentials = people[i]
            now = 1_800_000_000 + 30 * (i + 1)
            with factory() as session, session.begin():
                found = accounts.sign_in(session, login=account.login, password=credentials.password,
                                         code=accounts.current_code(credentials.totp_secret, now), now=now)
                tokens.append(accounts.start_session(session, found, now)[0])

        tokens: list[str] = []
        sign_in_ms = _median_ms(sign_in, rounds)

        def unknown(i: int) -> None:
            try:
                accounts.sign_in_committed(factory, login=f"nobody{i}", password="x" * 20, code="000000",
                                           now=1_800_000_000)
            except SignInRefusedError:
                pass

        unknown_ms = _median_ms(unknown, rounds)

        def check(i: int) -> None:
            with factory() as session, session.begin():
                assert accounts.session_for(session, tokens[i % len(tokens)], 1_800_000_400) is not None

        def bare(_i: int) -> None:
            with factory() as session, session.begin():
                session.execute(text("SELECT 1"))

        check_ms = _median_ms(check, rounds * 20)
        bare_ms = _median_ms(bare, rounds * 20)
        engine.dispose()
    table = Table("step", "median ms", "ratio")
    table.add_row("argon2id hash (defaults)", f"{hash_ms:.1f}", "")
    table.add_row("argon2id verify", f"{verify_ms:.1f}", f"{verify_ms / hash_ms:.2f}× a hash")
    table.add_row("sign-in: password + TOTP + session", f"{sign_in_ms:.1f}", f"{sign_in_ms / verify_ms:.2f}× a verify")
    table.add_row("sign-in of an unknown login", f"{unknown_ms:.1f}", f"{unknown_ms / sign_in_ms:.2f}× a sign-in")
    table.add_row("session cookie check (every request)", f"{check_ms:.3f}", f"{check_ms / bare_ms:.2f}× SELECT 1")
    table.add_row("bare SELECT 1 transaction", f"{bare_ms:.3f}", "")
    Console().print(table)


if __name__ == "__main__":
    main()
