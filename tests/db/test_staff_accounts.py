"""Staff accounts, sign-in and sessions (``ledger.accounts`` over ``ledger.db.accounts``) on
SQLite and PostgreSQL: argon2id passwords, TOTP with its window and replay refusal, lock-out,
idle and absolute session timeouts, the audit. Each unit of work commits, refusals included
(as the web layer must: a refused sign-in's count is a write)."""

from __future__ import annotations

import argon2
import pytest
from sqlalchemy import inspect, select

from ledger.accounts import Credentials, SecretBox, StaffAccount, StaffAccounts
from ledger.db import accounts as store
from ledger.db.engine import create_schema, drop_schema
from ledger.errors import (
    AccountDisabledError,
    AccountInputError,
    AccountLockedError,
    LedgerConfigError,
    SignInRefusedError,
    UnknownAccountError,
)
from tests.db.databases import Database

FAST = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
T0 = 1_767_225_600  # 2026-01-01 00:00:00 UTC, the start of a TOTP step
PASSWORD = "correct horse battery"
SIGNER = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"
SIGNER_EIP55 = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


@pytest.fixture
def accounts() -> StaffAccounts:
    return StaffAccounts(hasher=FAST)


@pytest.fixture
def person(db: Database, accounts: StaffAccounts) -> tuple[StaffAccount, Credentials]:
    with db.sessions() as s, s.begin():
        return accounts.create(s, municipality_id=1, login="J.Jansen ", display_name="Jan Jansen",
                               roles=["registrar", "confirmer"], signer=SIGNER, now=T0, password=PASSWORD)


def attempt(db: Database, accounts: StaffAccounts, now: int, *, secret: str | None = None, code: str | None = None,
            login: str = "j.jansen", password: str = PASSWORD) -> StaffAccount | SignInRefusedError:
    """One sign-in in its own committed transaction: the account, or the refusal."""
    with db.sessions() as s, s.begin():
        try:
            return accounts.sign_in(s, login=login, password=password,
                                    code=code if code is not None else accounts.current_code(secret, now), now=now)
        except SignInRefusedError as exc:
            return exc


def stored(db: Database, accounts: StaffAccounts, account_id: int) -> StaffAccount:
    with db.sessions() as s:
        return accounts.get(s, account_id)


def open_session(db: Database, accounts: StaffAccounts, account: StaffAccount, now: int) -> str:
    with db.sessions() as s, s.begin():
        return accounts.start_session(s, account, now)[0]


def session_at(db: Database, accounts: StaffAccounts, token: str, now: int):
    with db.sessions() as s, s.begin():
        return accounts.session_for(s, token, now)


def test_a_new_account_signs_in_with_its_password_and_the_current_code(db, accounts, person) -> None:
    account, credentials = person
    signed_in = attempt(db, accounts, T0 + 10, secret=credentials.totp_secret)
    assert signed_in == account  # nothing counted: no failures, no lock
    assert (account.login, account.roles, account.signer) == ("j.jansen", frozenset({"registrar", "confirmer"}),
                                                              SIGNER_EIP55)
    assert credentials.totp_uri("j.jansen").startswith("otpauth://totp/Van%20belofte%20naar%20bewijs:j.jansen?secret=")


def test_a_wrong_password_is_refused_and_counted_once(db, accounts, person) -> None:
    account, credentials = person
    refused = attempt(db, accounts, T0, secret=credentials.totp_secret, password="wrong password!")
    assert type(refused) is SignInRefusedError
    assert stored(db, accounts, account.id).failed_attempts == 1


def test_an_unknown_login_is_refused_with_the_same_type_and_message(db, accounts, person) -> None:
    _, credentials = person
    unknown = attempt(db, accounts, T0, secret=credentials.totp_secret, login="p.pietersen")
    wrong = attempt(db, accounts, T0, secret=credentials.totp_secret, password="wrong password!")
    assert type(unknown) is type(wrong) is SignInRefusedError
    assert str(unknown) == str(wrong)


def test_a_refusal_raised_through_a_committing_helper_is_still_counted(db, accounts, person) -> None:
    account, _ = person
    with pytest.raises(SignInRefusedError):
        accounts.sign_in_committed(db.sessions, login="j.jansen", password="wrong password!", code="000000", now=T0)
    assert stored(db, accounts, account.id).failed_attempts == 1


def test_the_fifth_failure_locks_the_account_for_900_seconds(db, accounts, person) -> None:
    account, credentials = person
    results = [attempt(db, accounts, T0 + i, secret=credentials.totp_secret, code="000000") for i in range(1, 6)]
    assert [type(r) for r in results] == [SignInRefusedError] * 4 + [AccountLockedError]
    assert results[-1].locked_until == T0 + 5 + 900
    assert stored(db, accounts, account.id).locked_until == T0 + 905


def test_a_locked_account_is_refused_with_the_right_credentials_until_the_lock_ends(db, accounts, person) -> None:
    account, credentials = person
    for i in range(1, 6):
        attempt(db, accounts, T0 + i, secret=credentials.totp_secret, password="wrong password!")
    still = attempt(db, accounts, T0 + 904, secret=credentials.totp_secret)
    assert isinstance(still, AccountLockedError) and still.locked_until == T0 + 905  # not extended
    assert attempt(db, accounts, T0 + 905, secret=credentials.totp_secret).id == account.id
    after = stored(db, accounts, account.id)
    assert (after.failed_attempts, after.locked_until) == (0, None)


def test_a_code_is_accepted_once(db, accounts, person) -> None:
    _, credentials = person
    code = accounts.current_code(credentials.totp_secret, T0)
    assert isinstance(attempt(db, accounts, T0, code=code), StaffAccount)
    assert type(attempt(db, accounts, T0 + 20, code=code)) is SignInRefusedError


def test_the_code_of_the_previous_step_is_accepted(db, accounts, person) -> None:
    _, credentials = person
    code = accounts.current_code(credentials.totp_secret, T0 + 30)
    assert isinstance(attempt(db, accounts, T0 + 60, code=code), StaffAccount)


def test_a_code_two_steps_off_is_refused(db, accounts, person) -> None:
    _, credentials = person
    early = accounts.current_code(credentials.totp_secret, T0)
    late = accounts.current_code(credentials.totp_secret, T0 + 120)
    assert type(attempt(db, accounts, T0 + 60, code=early)) is SignInRefusedError
    assert type(attempt(db, accounts, T0 + 60, code=late)) is SignInRefusedError


def test_a_disabled_account_is_refused_and_its_sessions_end(db, accounts, person) -> None:
    account, credentials = person
    token = open_session(db, accounts, account, T0)
    with db.sessions() as s, s.begin():
        assert accounts.disable(s, account.id, actor_id=None, now=T0 + 10).disabled_at == T0 + 10
    assert session_at(db, accounts, token, T0 + 11) is None
    with db.sessions() as s:
        assert s.scalar(select(store.staff_sessions.c.ended_at)) == T0 + 10
    refused = attempt(db, accounts, T0 + 30, secret=credentials.totp_secret)
    assert isinstance(refused, AccountDisabledError) and refused.account_id == account.id


def test_a_session_ends_exactly_1800_seconds_after_it_was_last_seen(db, accounts, person) -> None:
    account, _ = person
    token = open_session(db, accounts, account, T0)
    assert session_at(db, accounts, token, T0 + 30).last_seen_at == T0  # under 60 s behind: not written
    assert session_at(db, accounts, token, T0 + 1799) is not None
    other = open_session(db, accounts, account, T0)
    assert session_at(db, accounts, other, T0 + 1800) is None  # the end is exclusive


def test_a_request_moves_the_idle_end(db, accounts, person) -> None:
    account, _ = person
    token = open_session(db, accounts, account, T0)
    assert session_at(db, accounts, token, T0 + 60).last_seen_at == T0 + 60
    assert session_at(db, accounts, token, T0 + 1859) is not None
    assert session_at(db, accounts, token, T0 + 1859 + 1800) is None


def test_a_session_ends_eight_hours_after_it_began_however_busy(db, accounts, person) -> None:
    account, _ = person
    token = open_session(db, accounts, account, T0)
    for now in range(T0 + 1000, T0 + 28_800, 1000):
        assert session_at(db, accounts, token, now).expires_at == T0 + 28_800
    assert session_at(db, accounts, token, T0 + 28_799) is not None
    assert session_at(db, accounts, token, T0 + 28_800) is None


def test_signing_out_ends_the_session(db, accounts, person) -> None:
    account, _ = person
    token = open_session(db, accounts, account, T0)
    with db.sessions() as s, s.begin():
        accounts.end_session(s, token, T0 + 5)
    assert session_at(db, accounts, token, T0 + 6) is None
    assert session_at(db, accounts, None, T0 + 6) is None


def test_a_reset_ends_the_sessions_and_retires_the_old_password(db, accounts, person) -> None:
    account, old = person
    token = open_session(db, accounts, account, T0)
    with db.sessions() as s, s.begin():
        new = accounts.reset(s, account.id, actor_id=None, now=T0 + 10)
    assert session_at(db, accounts, token, T0 + 11) is None
    assert type(attempt(db, accounts, T0 + 30, secret=new.totp_secret)) is SignInRefusedError
    assert type(attempt(db, accounts, T0 + 60, secret=old.totp_secret)) is SignInRefusedError
    assert attempt(db, accounts, T0 + 90, secret=new.totp_secret, password=new.password).id == account.id
    assert len(new.password) == 20 and new.totp_secret != old.totp_secret


def test_logins_are_compared_casefolded_and_nfc(db, accounts, person) -> None:
    account, _ = person
    with db.sessions() as s, s.begin():
        assert accounts.by_login(s, "j.jansen").id == accounts.by_login(s, " J.JANSEN").id == account.id
        kees, _ = accounts.create(s, municipality_id=1, login="\u212aees", display_name="Kees", roles=["admin"],
                                  signer=None, now=T0)  # KELVIN SIGN: NFC makes it K
        assert kees.login == "kees"
        assert [a.login for a in accounts.list(s, 1)] == ["j.jansen", "kees"]


def test_a_taken_login_is_refused(db, accounts, person) -> None:
    with db.sessions() as s, s.begin(), pytest.raises(AccountInputError) as refused:
        accounts.create(s, municipality_id=2, login="J.JANSEN", display_name="Other", roles=["admin"], signer=None,
                        now=T0)
    assert (refused.value.field, refused.value.code) == ("login", "taken")


@pytest.mark.parametrize(("roles", "code"), [(["mayor"], "invalid"), ([], "empty"), ("admin", "invalid")])
def test_roles_outside_the_three_or_none_are_refused(db, accounts, roles, code) -> None:
    with db.sessions() as s, s.begin(), pytest.raises(AccountInputError) as refused:
        accounts.create(s, municipality_id=1, login="a.admin", display_name="A", roles=roles, signer=None, now=T0)
    assert (refused.value.field, refused.value.code) == ("roles", code)


def test_the_signer_is_stored_checksummed_and_a_malformed_one_refused(db, accounts, person) -> None:
    account, _ = person
    assert account.signer == SIGNER_EIP55
    with db.sessions() as s, s.begin(), pytest.raises(AccountInputError) as refused:
        accounts.create(s, municipality_id=1, login="b.b", display_name="B", roles=["confirmer"], signer="0x123",
                        now=T0)
    assert (refused.value.field, refused.value.code) == ("signer", "invalid")


def test_a_password_hashed_with_old_parameters_is_rehashed_at_sign_in(db, accounts, person) -> None:
    account, credentials = person
    stronger = StaffAccounts(hasher=argon2.PasswordHasher(time_cost=2, memory_cost=8, parallelism=1))
    assert attempt(db, stronger, T0, secret=credentials.totp_secret).id == account.id
    with db.sessions() as s:
        assert s.scalar(select(store.staff_accounts.c.password_hash)).startswith("$argon2id$v=19$m=8,t=2,p=1$")


def test_the_audit_records_every_step_without_a_secret(db, accounts, person) -> None:
    account, credentials = person
    wrong_code = accounts.current_code(credentials.totp_secret, T0 + 300)
    attempt(db, accounts, T0 + 1, code=wrong_code)
    attempt(db, accounts, T0 + 2, secret=credentials.totp_secret, password="not the password")
    good_code = accounts.current_code(credentials.totp_secret, T0 + 30)
    attempt(db, accounts, T0 + 30, code=good_code)
    with db.sessions() as s, s.begin():
        new = accounts.reset(s, account.id, actor_id=account.id, now=T0 + 40)
        accounts.set_roles(s, account.id, ["registrar"], actor_id=account.id, now=T0 + 50)
        events = accounts.events(s, 1)
        details = " ".join(str(d) for d in s.scalars(select(store.staff_account_events.c.detail_json)))
    assert [e["action"] for e in events] == ["roles_changed", "reset", "signed_in", "sign_in_refused",
                                             "sign_in_refused", "created"]
    assert events[0] == {"at": T0 + 50, "action": "roles_changed", "account_id": account.id, "login": "j.jansen",
                         "actor_login": "j.jansen", "detail": {"from": ["confirmer", "registrar"], "to": ["registrar"]}}
    assert [e["detail"] for e in events[3:5]] == [{"reason": "password", "failed_attempts": 2},
                                                  {"reason": "code", "failed_attempts": 1}]
    for secret in (PASSWORD, new.password, credentials.totp_secret, new.totp_secret, wrong_code, good_code,
                   "not the password"):
        assert secret not in details


def test_unknown_ids_are_refused_with_the_id(db, accounts) -> None:
    with db.sessions() as s, s.begin(), pytest.raises(UnknownAccountError) as refused:
        accounts.disable(s, 99, actor_id=None, now=T0)
    assert refused.value.account_id == 99


def test_the_account_tables_survive_a_reindex(db, accounts, person) -> None:
    account, _ = person
    drop_schema(db.engine)
    assert set(store.TABLE_NAMES) <= set(inspect(db.engine).get_table_names())
    create_schema(db.engine)
    assert stored(db, accounts, account.id) == account


def test_with_a_secret_box_the_totp_secret_is_stored_sealed_and_sign_in_still_works(db) -> None:
    boxed = StaffAccounts(hasher=FAST, box=SecretBox("the keystores' password"))
    with db.sessions() as s, s.begin():
        account, credentials = boxed.create(s, municipality_id=1, login="boxed", display_name="B", roles=["admin"],
                                            signer=None, now=T0, password=PASSWORD)
    with db.sessions() as s:
        row = store.get_account(s, account.id)
    assert row["totp_secret"].startswith("v1:") and credentials.totp_secret not in row["totp_secret"]
    signed = attempt(db, boxed, T0 + 60, login="boxed", secret=credentials.totp_secret)
    assert isinstance(signed, StaffAccount) and signed.id == account.id
    other = StaffAccounts(hasher=FAST, box=SecretBox("another password"))
    with pytest.raises(LedgerConfigError):
        attempt(db, other, T0 + 120, login="boxed", secret=credentials.totp_secret)


def test_a_secret_box_reads_a_value_stored_without_it_as_it_is() -> None:
    box = SecretBox("pw")
    assert box.open("JBSWY3DPEHPK3PXP") == "JBSWY3DPEHPK3PXP"
    assert box.open(box.seal("JBSWY3DPEHPK3PXP")) == "JBSWY3DPEHPK3PXP"
    assert box.seal("JBSWY3DPEHPK3PXP") != box.seal("JBSWY3DPEHPK3PXP")  # a fresh nonce each time


def test_wrong_attempts_at_once_while_another_writer_commits_are_each_counted_and_lock_the_account(
    db, accounts, person
) -> None:
    import threading

    from sqlalchemy import text

    account, _ = person
    stop = threading.Event()

    def other_writer() -> None:  # e.g. the indexer committing all the time
        while not stop.is_set():
            with db.sessions() as s, s.begin():
                s.execute(text("UPDATE staff_accounts SET updated_at = updated_at WHERE id = :id"), {"id": account.id})

    refused: list[type] = []

    def attempt_wrong() -> None:
        try:
            accounts.sign_in_committed(db.sessions, login="j.jansen", password="wrong password!", code="000000",
                                       now=T0 + 60)
        except SignInRefusedError as exc:
            refused.append(type(exc))

    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        attempts = [threading.Thread(target=attempt_wrong) for _ in range(6)]
        for t in attempts:
            t.start()
        for t in attempts:
            t.join()
    finally:
        stop.set()
        writer.join()
    assert len(refused) == 6  # every attempt answered as a refusal, none lost to a busy database
    assert AccountLockedError in refused
    assert stored(db, accounts, account.id).locked_until == T0 + 60 + 900
