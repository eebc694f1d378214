"""The bot's crypto store keeps what nio keeps, in its own file, with nio's models bound once
and the Olm account's row read once (adapters/matrix/nio_client.py, `CryptoStore`)."""

from __future__ import annotations

from pathlib import Path

from nio.crypto import OlmAccount, OlmDevice
from nio.store import DefaultStore

from consultbot.adapters.matrix.nio_client import CryptoStore


def _device(user: str, device: str) -> OlmDevice:
    return OlmDevice(user, device, {"ed25519": f"ed-{device}", "curve25519": f"cu-{device}"})


def _open(kind: type[DefaultStore], folder: Path, user: str) -> DefaultStore:
    folder.mkdir()
    store = kind(user, "DEVICE", str(folder), "pickle-key")
    store.save_account(OlmAccount())
    return store


def _devices(store: DefaultStore) -> set[str]:
    return {device.device_id for device in store.load_device_keys().active_user_devices("@c:x")}


def test_stores_in_one_process_each_keep_their_own_devices(tmp_path: Path) -> None:
    """Two bots' stores (an active and a standby in one test process) and a test's nio client
    (the stock store), used in turn, each rebinding nio's models: every store's writes land
    in its own file, and stay there when it is opened again."""
    bot = _open(CryptoStore, tmp_path / "bot", "@bot:x")
    standby = _open(CryptoStore, tmp_path / "standby", "@bot:x")
    other = _open(DefaultStore, tmp_path / "other", "@other:x")

    bot.save_device_keys({"@c:x": {"PHONE": _device("@c:x", "PHONE")}})
    standby.save_device_keys({"@c:x": {"DESKTOP": _device("@c:x", "DESKTOP")}})
    other.save_device_keys({"@c:x": {"LAPTOP": _device("@c:x", "LAPTOP")}})
    bot.save_device_keys({"@c:x": {"TABLET": _device("@c:x", "TABLET")}})

    assert _devices(bot) == {"PHONE", "TABLET"}
    assert _devices(standby) == {"DESKTOP"}
    assert _devices(other) == {"LAPTOP"}
    reopened = CryptoStore("@bot:x", "DEVICE", str(tmp_path / "bot"), "pickle-key")
    assert _devices(reopened) == {"PHONE", "TABLET"}


def test_the_account_read_after_a_save_is_the_saved_one(tmp_path: Path) -> None:
    """The account's row is kept between calls, but never past a save: a reopened store and
    the same one load the account last saved (its one-time keys marked published)."""
    store = _open(CryptoStore, tmp_path / "bot", "@bot:x")
    account = store.load_account()
    assert account is not None and not account.shared

    account.shared = True
    store.save_account(account)

    loaded = store.load_account()
    assert loaded is not None and loaded.shared
    assert loaded.identity_keys == account.identity_keys
    reopened = CryptoStore("@bot:x", "DEVICE", str(tmp_path / "bot"), "pickle-key")
    again = reopened.load_account()
    assert again is not None and again.shared
