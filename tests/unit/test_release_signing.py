"""Release signatures on a small folder: what verifies, what is named when it does not."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ctdc_assets.config import Settings
from ctdc_assets.release.signing import (
    PUBLIC_KEY,
    SIGNATURE,
    check_signature,
    load_public_keys,
    public_key_pem,
    raw,
    sign_release,
    signed_file_problems,
)


def _signed_folder(root: Path, key: Ed25519PrivateKey) -> Path:
    folder = root / "release"
    (folder / "statistics").mkdir(parents=True)
    (folder / "manifest.json").write_text('{"files": {}}')
    (folder / "victims.csv").write_text("gender\nMale\nFemale\n")
    (folder / "statistics" / "t.csv").write_text("count\n12\n")
    (folder / PUBLIC_KEY).write_bytes(public_key_pem(key.public_key()))
    sign_release(folder, key)
    return folder


def _problems(folder: Path, pinned) -> list[str]:
    problems, signed = check_signature(folder, pinned)
    return problems + (signed_file_problems(folder, signed) if signed is not None else [])


def test_a_signed_folder_verifies_with_its_pinned_key(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    folder = _signed_folder(tmp_path, key)
    problems, signed = check_signature(folder, [key.public_key()])
    assert problems == [] and signed is not None
    assert set(signed) == {"manifest.json", "victims.csv", "statistics/t.csv", PUBLIC_KEY}


def test_changed_missing_and_added_files_are_named(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    folder = _signed_folder(tmp_path, key)
    (folder / "victims.csv").write_text("gender\nFemale\nMale\n")
    (folder / "statistics" / "t.csv").unlink()
    (folder / "extra.html").write_text("<script></script>")
    assert sorted(_problems(folder, [key.public_key()])) == [
        "extra.html: not signed (added after signing)",
        "statistics/t.csv: signed but missing",
        "victims.csv: content differs from its signed checksum",
    ]


def test_another_key_fails_whatever_the_folder_publishes(tmp_path: Path) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    folder = _signed_folder(tmp_path, other)  # signed by other, other's key published
    problems = _problems(folder, [key.public_key()])
    assert any("release_signing.pub: key" in p and "not a pinned key" in p for p in problems)
    assert any(p.startswith(f"{SIGNATURE}: signed by key") for p in problems), problems
    assert _problems(folder, []) == [
        "no public key pinned (CTDC_RELEASE_PUBLIC_KEY or --public-key): "
        "the signature cannot be checked"
    ]


def test_an_edited_or_missing_signature_fails(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    folder = _signed_folder(tmp_path, key)
    text = (folder / SIGNATURE).read_text()
    (folder / SIGNATURE).write_text(text.replace('"victims.csv', '"victims2.csv'))
    assert _problems(folder, [key.public_key()]) == [
        f"{SIGNATURE}: the signature does not verify with the pinned public key(s): "
        "its checksums cannot be trusted"
    ]
    (folder / SIGNATURE).unlink()
    assert _problems(folder, [key.public_key()]) == [
        f"{SIGNATURE} is missing: the release is not signed"
    ]


def test_pins_read_pem_files_and_hex_keys(tmp_path: Path) -> None:
    one, two = Ed25519PrivateKey.generate().public_key(), Ed25519PrivateKey.generate().public_key()
    pem = tmp_path / "one.pub"
    pem.write_bytes(public_key_pem(one))
    keys = load_public_keys(f"{pem}, {raw(two).hex()}")
    assert [raw(k) for k in keys] == [raw(one), raw(two)]
    with pytest.raises(ValueError, match="neither a PEM file nor 64 hex digits"):
        load_public_keys("not-a-key")


def test_the_deployment_key_is_owner_only_and_pinned_by_default(deployment, monkeypatch) -> None:
    settings = deployment.settings
    assert settings.release_public_keys() == []  # nothing pinned before any key exists
    key = settings.release_signing_key()
    mode = stat.S_IMODE(settings.release_signing_key_file.stat().st_mode)
    assert mode == 0o600
    assert [raw(k) for k in settings.release_public_keys()] == [raw(key.public_key())]
    assert raw(Settings.from_env().release_signing_key().public_key()) == raw(key.public_key())
    other = Ed25519PrivateKey.generate().public_key()
    monkeypatch.setenv("CTDC_RELEASE_PUBLIC_KEY", raw(other).hex())
    assert [raw(k) for k in settings.release_public_keys()] == [raw(other)]
