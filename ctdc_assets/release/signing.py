"""Ed25519 signatures of a release: who published it, and exactly which files.

At publication `manifest.sig` signs a statement listing the SHA-256 of every file of the
release folder, `manifest.json` included (like a signed `SHA256SUMS`), and the signer's
public key is published beside it as `release_signing.pub` (PEM, readable by OpenSSL).
Signing the checksums rather than only the manifest's bytes lets `ctdc verify` say which
file was changed even when an adversary rewrote the manifest's checksums to match.

Trust comes from the verifier's pinned key(s), never from the key in the folder: a
release re-signed by anyone else, with their key published in it, fails. Ed25519 and
PEM are the `cryptography` package's; nothing here is hand-rolled cryptography.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ctdc_assets.landing import sha256_file

SIGNATURE = "manifest.sig"
PUBLIC_KEY = "release_signing.pub"
FORMAT = "ctdc-release-signature/1"


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """Short name of a key in messages: SHA-256 of its raw bytes, first 16 hex digits."""
    return hashlib.sha256(raw(key)).hexdigest()[:16]


def load_public_keys(spec: str) -> list[Ed25519PublicKey]:
    """Keys from a pin: comma-separated items, each a PEM file's path or 64 hex digits.

    Several keys let releases signed before a key rotation still verify.
    """
    keys = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if Path(item).is_file():
            key = serialization.load_pem_public_key(Path(item).read_bytes())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(f"{item}: not an Ed25519 public key")
            keys.append(key)
            continue
        try:
            keys.append(Ed25519PublicKey.from_public_bytes(bytes.fromhex(item)))
        except ValueError as error:
            raise ValueError(f"{item!r}: neither a PEM file nor 64 hex digits ({error})") from None
    return keys


def _checksums(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != SIGNATURE
    }


def sign_release(folder: Path, key: Ed25519PrivateKey) -> None:
    """Write `manifest.sig` over the checksums of every file now in `folder`."""
    statement = json.dumps({"format": FORMAT, "files": _checksums(folder)}, indent=1)
    envelope = {
        "algorithm": "Ed25519",
        "key": fingerprint(key.public_key()),
        "statement": statement,
        "signature": base64.b64encode(key.sign(statement.encode())).decode(),
    }
    (folder / SIGNATURE).write_text(json.dumps(envelope, indent=2) + "\n", encoding="utf-8")


def check_signature(
    folder: Path, pinned: list[Ed25519PublicKey]
) -> tuple[list[str], dict[str, str] | None]:
    """Problems with the signature, and the signed checksums when a pinned key signed."""
    problems: list[str] = []
    published = _published_key(folder, problems)
    pins = {raw(k) for k in pinned}
    if published is not None and pins and raw(published) not in pins:
        problems.append(
            f"{PUBLIC_KEY}: key {fingerprint(published)} is not a pinned key "
            f"(pinned: {', '.join(fingerprint(k) for k in pinned)})"
        )
    signed = _signed_files(folder, pinned, published)
    if isinstance(signed, str):
        return [*problems, signed], None
    return problems, signed


def _signed_files(
    folder: Path, pinned: list[Ed25519PublicKey], published: Ed25519PublicKey | None
) -> dict[str, str] | str:
    """The signed checksums, or why there are none to trust."""
    if not pinned:
        return (
            "no public key pinned (CTDC_RELEASE_PUBLIC_KEY or --public-key): "
            "the signature cannot be checked"
        )
    try:
        envelope = json.loads((folder / SIGNATURE).read_text(encoding="utf-8"))
        statement = envelope["statement"].encode()
        signature = base64.b64decode(envelope["signature"], validate=True)
    except FileNotFoundError:
        return f"{SIGNATURE} is missing: the release is not signed"
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as error:
        return f"{SIGNATURE} is not a signature file: {error}"
    if not any(_valid(key, signature, statement) for key in pinned):
        if published is not None and _valid(published, signature, statement):
            reason = f"signed by key {fingerprint(published)}, which is not a pinned key"
        else:
            reason = "the signature does not verify with the pinned public key(s)"
        return f"{SIGNATURE}: {reason}: its checksums cannot be trusted"
    signed = json.loads(statement)
    if signed.get("format") != FORMAT or not isinstance(signed.get("files"), dict):
        return f"{SIGNATURE}: signed statement of an unknown format"
    return signed["files"]


def _published_key(folder: Path, problems: list[str]) -> Ed25519PublicKey | None:
    try:
        key = serialization.load_pem_public_key((folder / PUBLIC_KEY).read_bytes())
    except FileNotFoundError:
        problems.append(f"{PUBLIC_KEY} is missing: the release does not publish its key")
        return None
    except ValueError as error:
        problems.append(f"{PUBLIC_KEY} is not a PEM public key: {error}")
        return None
    if not isinstance(key, Ed25519PublicKey):
        problems.append(f"{PUBLIC_KEY} is not an Ed25519 key")
        return None
    return key


def _valid(key: Ed25519PublicKey, signature: bytes, statement: bytes) -> bool:
    try:
        key.verify(signature, statement)
    except InvalidSignature:
        return False
    return True


def signed_file_problems(folder: Path, signed: dict[str, str]) -> list[str]:
    """Every file against the signed checksums: changed, missing or added since signing."""
    present = _checksums(folder)
    problems = []
    for name, expected in signed.items():
        if name not in present:
            problems.append(f"{name}: signed but missing")
        elif present[name] != expected:
            problems.append(f"{name}: content differs from its signed checksum" + _why(name))
    added = [name for name in present if name not in signed]
    return problems + [f"{name}: not signed (added after signing)" for name in added]


def _why(name: str) -> str:
    if name == "manifest.json":
        return " (changed after signing: its checksums and counts are not the publisher's)"
    return ""
