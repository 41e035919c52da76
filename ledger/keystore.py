"""Encrypted keystores of the accounts the API signs with (registrars, confirmers, the relayer).

One file per account, ``<EIP-55 address>.json``, in the standard Ethereum keystore format
(Web3 Secret Storage v3, what geth, clef and MetaMask export), written and read with
``eth_account.Account.encrypt`` / ``Account.decrypt`` (eth-keyfile). Files are mode 0600, the
folder 0700; every write is atomic (temporary file beside it, fsynced, renamed).

All keystores of a folder share one password (:class:`KeystoreOptions`), taken from the
settings (:func:`keystore_options`): ``LEDGER_KEYSTORE_PASSWORD_FILE`` (a file readable by
its owner only) or ``LEDGER_KEYSTORE_PASSWORD``; locally, when neither is set, the fixed
:data:`LOCAL_KEYSTORE_PASSWORD` (local keys are the well-known development keys anyway);
in production one of them is required.

The key derivation is chosen when a keystore is written (a reader takes it from the file):
production default scrypt with n = 2**18, r = 8, p = 1 (geth's "standard" parameters, about
1 s and 256 MiB per unlock); locally pbkdf2-sha256 with 10000 iterations so that tests and
`make run` start fast. ``LEDGER_KEYSTORE_KDF`` / ``LEDGER_KEYSTORE_KDF_ITERATIONS`` override.

No error message here holds a key or a password: they name the file and what is wrong.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping

from eth_account import Account
from eth_utils import is_address, to_checksum_address

from ledger.errors import LedgerConfigError

if TYPE_CHECKING:
    from ledger.settings import Settings

LOCAL_KEYSTORE_PASSWORD = "ledger-local-development-only"
"""The password of keystores written with ``LEDGER_ENV=local`` when none is configured."""

PRODUCTION_KDF: Literal["scrypt"] = "scrypt"
PRODUCTION_SCRYPT_N = 2**18
"""scrypt's ``n`` in production (geth's ``StandardScryptN``)."""
LOCAL_KDF: Literal["pbkdf2"] = "pbkdf2"
LOCAL_PBKDF2_ITERATIONS = 10_000
"""pbkdf2's iterations locally (tests, `make run`): an unlock takes milliseconds."""


class KeystoreError(LedgerConfigError):
    """A keystore is missing, malformed, or does not unlock (the message names the file)."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class KeystoreMissingError(KeystoreError):
    """No keystore for an account the token file names."""


class KeystorePasswordError(KeystoreError):
    """The password does not unlock a keystore (eth-keyfile's MAC check failed)."""


class KeystorePasswordMissingError(LedgerConfigError):
    """No password configured where one is required (production), or two conflicting ones."""


@dataclass(frozen=True)
class KeystoreOptions:
    """How keystores are unlocked and written.

    Attributes:
        password: the password of every keystore of the folder; never printed.
        kdf: ``scrypt`` or ``pbkdf2``, for keystores written from now on.
        iterations: the kdf's work factor (scrypt ``n``, pbkdf2 ``c``).
    """

    password: str = field(repr=False)
    kdf: Literal["scrypt", "pbkdf2"] = PRODUCTION_KDF
    iterations: int = PRODUCTION_SCRYPT_N


def read_password_file(path: Path) -> str:
    """The password in ``path`` (one trailing newline dropped).

    Raises:
        KeystorePasswordMissingError: the file is missing, empty, or readable or writable by
            group or others.
    """
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeystorePasswordMissingError(f"Keystore password file {path} cannot be read ({type(exc).__name__}).") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeystorePasswordMissingError(
            f"Keystore password file {path} must be readable by its owner only (mode {mode:o}; chmod 600)."
        )
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise KeystorePasswordMissingError(f"Keystore password file {path} is empty.")
    return password


def keystore_options(settings: Settings) -> KeystoreOptions:
    """The keystore options of ``settings`` (password resolved; see the module docstring).

    Raises:
        KeystorePasswordMissingError: both a password and a password file are set, the file
            is unsafe or empty, or production has no password.
    """
    password = settings.keystore_password.get_secret_value()
    if settings.keystore_password_file is not None:
        if password:
            raise KeystorePasswordMissingError(
                "Set LEDGER_KEYSTORE_PASSWORD or LEDGER_KEYSTORE_PASSWORD_FILE, not both."
            )
        password = read_password_file(settings.keystore_password_file)
    if not password:
        if settings.env != "local":
            raise KeystorePasswordMissingError(
                f"LEDGER_ENV={settings.env} needs LEDGER_KEYSTORE_PASSWORD_FILE (or LEDGER_KEYSTORE_PASSWORD) "
                f"to unlock the keystores in {settings.keystore_dir}."
            )
        password = LOCAL_KEYSTORE_PASSWORD
    local = settings.env == "local"
    kdf = settings.keystore_kdf or (LOCAL_KDF if local else PRODUCTION_KDF)
    default_iterations = LOCAL_PBKDF2_ITERATIONS if kdf == "pbkdf2" and local else None
    if kdf == "scrypt":
        default_iterations = PRODUCTION_SCRYPT_N
    elif default_iterations is None:
        default_iterations = 1_000_000  # eth-keyfile's pbkdf2 default
    iterations = settings.keystore_kdf_iterations or default_iterations
    if kdf == "scrypt" and (iterations < 2 or iterations & (iterations - 1)):
        raise LedgerConfigError(f"LEDGER_KEYSTORE_KDF_ITERATIONS must be a power of 2 for scrypt, not {iterations}.")
    return KeystoreOptions(password=password, kdf=kdf, iterations=iterations)


def options_from_environ(environ: Mapping[str, str] | None = None) -> KeystoreOptions:
    """:func:`keystore_options` of the ``LEDGER_ENV`` and ``LEDGER_KEYSTORE_*`` variables
    alone (what the library functions of ``ledger.staff`` use when given no options).

    Raises:
        LedgerConfigError: a variable does not parse, or see :func:`keystore_options`.
    """
    from pydantic import ValidationError

    from ledger.settings import Settings

    environ = os.environ if environ is None else environ
    names = ("env", "keystore_password", "keystore_password_file", "keystore_kdf", "keystore_kdf_iterations")
    values = {n: environ[f"LEDGER_{n.upper()}"] for n in names if environ.get(f"LEDGER_{n.upper()}")}
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        raise LedgerConfigError(f"Invalid LEDGER_KEYSTORE_* settings: {exc.error_count()} error(s) in {sorted(values)}") from exc
    return keystore_options(settings)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` atomically with mode 0600 (its folder created with mode 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def _check_v3_shape(keyfile: Any) -> None:
    """Check the fields eth-keyfile reads from a v3 keystore are there and well-typed.

    Raises:
        ValueError: naming the first field that is missing or wrong.
    """
    if not isinstance(keyfile, dict) or keyfile.get("version") != 3:
        raise ValueError("not a version 3 keystore")
    crypto = keyfile.get("crypto", keyfile.get("Crypto"))
    if not isinstance(crypto, dict):
        raise ValueError("no crypto object")
    if crypto.get("kdf") not in ("scrypt", "pbkdf2") or not isinstance(crypto.get("kdfparams"), dict):
        raise ValueError("kdf must be scrypt or pbkdf2, with kdfparams")
    if crypto.get("cipher") != "aes-128-ctr" or not isinstance(crypto.get("cipherparams"), dict):
        raise ValueError("cipher must be aes-128-ctr, with cipherparams")
    for name, value in (("ciphertext", crypto.get("ciphertext")), ("mac", crypto.get("mac")),
                        ("cipherparams.iv", crypto["cipherparams"].get("iv")),
                        ("kdfparams.salt", crypto["kdfparams"].get("salt"))):
        if not isinstance(value, str):
            raise ValueError(f"{name} missing")
        bytes.fromhex(value.removeprefix("0x"))


class Keystore:
    """The keystore folder.

    Args:
        folder: the folder (created with mode 0700 on the first write).
        options: password and kdf.
    """

    def __init__(self, folder: Path, options: KeystoreOptions) -> None:
        self.folder = Path(folder)
        self.options = options

    def path_of(self, address: str) -> Path:
        """The keystore file of ``address``: ``<folder>/<EIP-55 address>.json``."""
        return self.folder / f"{to_checksum_address(address)}.json"

    def write(self, private_key: str) -> str:
        """Encrypt ``private_key`` (``0x`` hex) into its account's keystore (replaced if it
        exists) and return the account's EIP-55 address.

        Raises:
            LedgerConfigError: not a valid private key (the message does not repeat it).
        """
        try:
            account = Account.from_key(private_key)
        except (ValueError, TypeError) as exc:
            raise LedgerConfigError(f"Not a valid private key ({type(exc).__name__}).") from None
        if self.folder.exists():
            mode = stat.S_IMODE(self.folder.stat().st_mode)
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                os.chmod(self.folder, 0o700)
        encrypted = Account.encrypt(account.key, self.options.password, kdf=self.options.kdf,
                                    iterations=self.options.iterations)
        _write_private(self.path_of(account.address), (json.dumps(encrypted, indent=2) + "\n").encode())
        return account.address

    def addresses(self) -> list[str]:
        """EIP-55 addresses of the keystores in the folder, sorted (a file that is not a
        keystore is skipped: :meth:`unlock` names what is wrong with it)."""
        found = []
        for file in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                address = str(json.loads(file.read_text(encoding="utf-8"))["address"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if is_address(address if address.startswith("0x") else "0x" + address):
                found.append(to_checksum_address("0x" + address.removeprefix("0x")))
        return sorted(found)

    def kdf_of(self, address: str) -> str:
        """The key derivation of ``address``'s keystore as written in it (``scrypt n=262144``,
        ``pbkdf2 c=10000``), or ``?`` when the file does not say."""
        try:
            crypto = json.loads(self.path_of(address).read_text(encoding="utf-8"))["crypto"]
            params = crypto["kdfparams"]
            return f"{crypto['kdf']} n={params['n']}" if crypto["kdf"] == "scrypt" else f"{crypto['kdf']} c={params['c']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "?"

    def exists(self, address: str) -> bool:
        """Whether the folder holds a keystore file for ``address``."""
        return self.path_of(address).is_file()

    def unlock(self, address: str) -> str:
        """The private key (``0x`` hex) of ``address``, decrypted from its keystore.

        Raises:
            KeystoreMissingError: no keystore file for the account.
            KeystorePasswordError: the password does not unlock it.
            KeystoreError: the file is malformed, or holds another account's key.
        """
        path = self.path_of(address)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeystoreMissingError(
                f"No keystore for account {to_checksum_address(address)}: {path} is missing "
                "(import its key with `python -m scripts.admin keys import`).", path
            ) from None
        except OSError as exc:
            raise KeystoreError(f"Keystore {path} cannot be read ({type(exc).__name__}).", path) from None
        try:
            keyfile: Any = json.loads(text)
            _check_v3_shape(keyfile)
        except (ValueError, TypeError) as exc:
            raise KeystoreError(f"Keystore {path} is malformed ({exc}).", path) from None
        try:
            key = Account.decrypt(keyfile, self.options.password)
        except ValueError:
            # The shape was checked above: eth-keyfile's remaining ValueError is its MAC check,
            # i.e. a wrong password (or a tampered file, which the same password cannot open).
            raise KeystorePasswordError(
                f"The keystore password does not unlock {path} (wrong LEDGER_KEYSTORE_PASSWORD or "
                "LEDGER_KEYSTORE_PASSWORD_FILE?).", path
            ) from None
        except (KeyError, TypeError, NotImplementedError) as exc:
            raise KeystoreError(f"Keystore {path} is malformed ({type(exc).__name__}).", path) from None
        private_key = "0x" + bytes(key).hex()
        if Account.from_key(private_key).address != to_checksum_address(address):
            raise KeystoreError(f"Keystore {path} holds the key of another account.", path)
        return private_key
