"""Where things live, read from the environment once.

Every path a user may want to move has an environment variable; the defaults keep
everything inside the repository's `data/` folder so a fresh clone just works.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: most commands never sign
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MIN_KEY_BYTES = 16  # 128 bits


class KeyProblem(ValueError):
    """A key that is missing where it must exist, or too short, or not hexadecimal."""


@dataclass(frozen=True)
class Settings:
    """Paths and secrets of one deployment."""

    data_dir: Path
    crosswalks_dir: Path
    expectations_dir: Path
    policy_file: Path

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        return cls(
            data_dir=Path(env("CTDC_DATA_DIR", PROJECT_ROOT / "data")).resolve(),
            crosswalks_dir=Path(env("CTDC_CROSSWALKS_DIR", PROJECT_ROOT / "crosswalks")).resolve(),
            expectations_dir=Path(
                env("CTDC_EXPECTATIONS_DIR", PROJECT_ROOT / "expectations")
            ).resolve(),
            policy_file=Path(env("CTDC_POLICY", PROJECT_ROOT / "release_policy.yaml")).resolve(),
        )

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def releases_dir(self) -> Path:
        return self.data_dir / "releases"

    @property
    def warehouse_file(self) -> Path:
        return Path(os.environ.get("CTDC_WAREHOUSE", self.data_dir / "warehouse.duckdb"))

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def dagster_home(self) -> Path:
        return Path(os.environ.get("DAGSTER_HOME", self.data_dir / "dagster_home"))

    def pseudonym_key(self) -> bytes:
        """The key of the pseudonymous record key (HMAC), never part of the code.

        `CTDC_PSEUDONYM_KEY` (hex) wins; otherwise a key file is created on first use
        with owner-only permissions, so record keys stay stable across runs.
        """
        return _secret("CTDC_PSEUDONYM_KEY", self.secrets_dir / "pseudonym.key")

    def cell_key_secret(self) -> bytes:
        """The key of the records' cell keys (HMAC of the record key), never published.

        `CTDC_CELL_KEY_SECRET` (hex) wins; otherwise an owner-only key file like the
        other keys. Losing it changes every cell key: the next statistics get new noise.
        """
        return _secret("CTDC_CELL_KEY_SECRET", self.secrets_dir / "cell_key.key")

    def warehouse_key(self) -> str | None:
        """Encryption key of the warehouse, or None when encryption is switched off."""
        if os.environ.get("CTDC_WAREHOUSE_ENCRYPTION", "on").lower() in {"off", "0", "false"}:
            return None
        key_file = self.warehouse_key_file
        if (
            not os.environ.get("CTDC_WAREHOUSE_KEY")
            and not key_file.exists()
            and self.warehouse_file.exists()
        ):  # a new key would never open it: say so instead of making one
            raise KeyProblem(
                f"The warehouse {self.warehouse_file} exists but its key is missing: set "
                f"CTDC_WAREHOUSE_KEY or restore {key_file}. If the key is lost, "
                "`ctdc warehouse rebuild` rebuilds the warehouse from the landing folders."
            )
        return _secret("CTDC_WAREHOUSE_KEY", key_file).hex()

    @property
    def warehouse_key_file(self) -> Path:
        return self.secrets_dir / "warehouse.key"

    @property
    def release_signing_key_file(self) -> Path:
        return self.secrets_dir / "release_signing.key"

    def release_signing_key(self) -> Ed25519PrivateKey:
        """The Ed25519 key that signs releases (32-byte seed, hex), never in a release.

        `CTDC_RELEASE_SIGNING_KEY` wins; otherwise an owner-only key file, created on
        first use like the other keys.
        """
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        seed = _secret("CTDC_RELEASE_SIGNING_KEY", self.release_signing_key_file)
        return Ed25519PrivateKey.from_private_bytes(seed)

    def release_public_keys(self) -> list[Ed25519PublicKey]:
        """The pinned key(s) `ctdc verify` trusts (never the key inside a release).

        `CTDC_RELEASE_PUBLIC_KEY`: comma-separated PEM files or hex keys (several during
        a rotation). Without it, a deployment that holds the signing key pins its public
        half; otherwise nothing is pinned and verification fails.
        """
        from ctdc_assets.release.signing import load_public_keys

        if spec := os.environ.get("CTDC_RELEASE_PUBLIC_KEY"):
            return load_public_keys(spec)
        if os.environ.get("CTDC_RELEASE_SIGNING_KEY") or self.release_signing_key_file.exists():
            return [self.release_signing_key().public_key()]
        return []


def owner_only(folder: Path) -> Path:
    """Create `folder` if needed and make it and everything in it owner-only (0700
    folders, 0600 files): the instance home, staging and keys hold what other local
    users must not read (run history, unpublished files, secrets)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    for path in folder.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod(0o700 if path.is_dir() else 0o600)
    return folder


def _secret(variable: str, key_file: Path) -> bytes:
    if value := os.environ.get(variable):
        return _key(value, variable)
    if not key_file.exists():
        owner_only(key_file.parent)
        try:
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
    return _key(key_file.read_text(), f"{variable}'s key file {key_file}")


def _key(text: str, source: str) -> bytes:
    """The key's bytes; refused when not hexadecimal or shorter than 128 bits."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise KeyProblem(f"{source} is not a hexadecimal key (0-9, a-f)") from None
    if len(key) < MIN_KEY_BYTES:
        raise KeyProblem(
            f"{source} is {len(key) * 8} bits long; keys need at least {MIN_KEY_BYTES * 8} "
            f"bits ({MIN_KEY_BYTES * 2} hex digits): "
            'python -c "import secrets; print(secrets.token_hex(32))"'
        )
    return key
