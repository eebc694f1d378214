"""Files in and out of Matrix: an admin's uploaded roster in, the bot's report chart out.

Element sends attachments in encrypted rooms as `file` (the mxc url with the AES key, iv and
SHA-256 hash) instead of `url`. nio downloads through the authenticated media API
(`/_matrix/client/v1/media/download`) and `nio.crypto.attachments` does the AES and the hash
check; this module only decides what to fetch, refuses what is too large before and after
fetching, and builds the content of an image the bot sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nio import AsyncClient, MemoryDownloadResponse, UploadResponse
from nio.crypto.attachments import decrypt_attachment

from consultbot.domain.errors import ConsultbotError
from consultbot.ports import FileTooLarge

FILE_MSGTYPES = frozenset({"m.file", "m.image"})


class MediaError(ConsultbotError):
    """An attachment could not be fetched or sent."""


@dataclass(frozen=True, kw_only=True)
class Attachment:
    """A file someone sent: its name, declared type and size, and where to fetch it."""

    name: str
    mimetype: str
    size: int | None
    url: str
    encryption: Mapping[str, Any] | None  # the `file` object of an encrypted attachment


def attachment(content: Mapping[str, Any]) -> Attachment | None:
    """The attachment an `m.room.message` content carries, or None when it carries none."""
    if content.get("msgtype") not in FILE_MSGTYPES:
        return None
    info = content.get("info")
    info = info if isinstance(info, Mapping) else {}
    encrypted = content.get("file")
    if isinstance(encrypted, Mapping):
        url = encrypted.get("url")
        if not isinstance(url, str) or not _encryption_ok(encrypted):
            return None
        encryption: Mapping[str, Any] | None = encrypted
    else:
        url = content.get("url")
        encryption = None
    if not isinstance(url, str) or not url.startswith("mxc://"):
        return None
    name = content.get("filename") or content.get("body") or ""
    size = info.get("size")
    mimetype = info.get("mimetype") or (encryption or {}).get("mimetype") or ""
    return Attachment(
        name=str(name),
        mimetype=str(mimetype),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        url=url,
        encryption=encryption,
    )


def _encryption_ok(file: Mapping[str, Any]) -> bool:
    key = file.get("key")
    hashes = file.get("hashes")
    return (
        isinstance(key, Mapping)
        and isinstance(key.get("k"), str)
        and isinstance(hashes, Mapping)
        and isinstance(hashes.get("sha256"), str)
        and isinstance(file.get("iv"), str)
    )


async def fetch(client: AsyncClient, item: Attachment, *, max_bytes: int) -> bytes:
    """The attachment's plain bytes; FileTooLarge or MediaError when that fails."""
    if item.size is not None and item.size > max_bytes:
        raise FileTooLarge(item.size)
    response = await client.download(mxc=item.url)
    if not isinstance(response, MemoryDownloadResponse):
        raise MediaError(f"download of {item.url} failed: {response}")
    data = bytes(response.body)
    if len(data) > max_bytes:
        raise FileTooLarge(len(data))
    if item.encryption is None:
        return data
    try:
        plain: bytes = decrypt_attachment(
            data,
            item.encryption["key"]["k"],
            item.encryption["hashes"]["sha256"],
            item.encryption["iv"],
        )
    except Exception as exc:  # nio raises EncryptionError or a base64/AES error
        raise MediaError(f"attachment {item.url} could not be decrypted: {exc}") from exc
    return plain


async def upload_image(
    client: AsyncClient,
    data: bytes,
    *,
    name: str,
    width: int,
    height: int,
    encrypt: bool,
    mimetype: str = "image/png",
) -> dict[str, Any]:
    """Upload an image and return the `m.image` content that shows it (encrypted if asked)."""
    response, keys = await client.upload(
        lambda *_: data,
        content_type="application/octet-stream" if encrypt else mimetype,
        filename=name,
        encrypt=encrypt,
        filesize=len(data),
    )
    if not isinstance(response, UploadResponse):
        raise MediaError(f"upload of {name} failed: {response}")
    info = {"mimetype": mimetype, "size": len(data), "w": width, "h": height}
    content: dict[str, Any] = {"msgtype": "m.image", "body": name, "info": info}
    if encrypt:
        assert keys is not None
        content["file"] = {**keys, "url": response.content_uri, "mimetype": mimetype}
    else:
        content["url"] = response.content_uri
    return content
