"""Screen findings for the report tests: a real JPEG frame (Pillow, with a real QR code from zxing-cpp) in the
event's ``frames/`` folder, and the finding a screen rule would make of it."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import zxingcpp
from PIL import Image, ImageDraw, ImageFont

from livewatch.pipeline.findings import Finding, finding_id
from livewatch.pipeline.screen import Box
from livewatch.state import DataDir

#: What a hostile origin could put in a QR code: markup, quotes, a control character.
PAYLOAD = 'https://u.wechat.com/<script>alert(1)</script>"><img src=x onerror=alert(2)>\x07'
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
#: Where the QR code is in the frame (960 x 540, the capture's largest size).
QR_BOX = Box(600, 160, 220, 220)


def frame_jpeg(payload: str = PAYLOAD) -> bytes:
    """A 960 x 540 broadcast-like still: a dark picture, a Chinese caption and a QR code at :data:`QR_BOX`."""
    picture = Image.new("RGB", (960, 540), (24, 40, 72))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((40, 420, 560, 500), fill=(200, 30, 30))
    draw.text((60, 432), "扫码加微信 领取福利", font=ImageFont.truetype(FONT, 40), fill=(255, 255, 255))
    code = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode).to_image(scale=1)
    qr = Image.fromarray(code).convert("RGB").resize((QR_BOX.width, QR_BOX.height), Image.Resampling.NEAREST)
    picture.paste(qr, (QR_BOX.left, QR_BOX.top))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def put_frame(data: DataDir, event_id: str, name: str, content: bytes) -> str:
    """Write a frame into the event's ``frames/`` folder; returns its path relative to the event's folder."""
    folder = data.make_folder(data.event_dir(event_id) / "frames")
    data.write_whole(folder / name, content)
    return f"frames/{name}"


def screen_finding(event_id: str, start: datetime, frame: str | None, *, seconds: float = 8.0,
                   payload: str = PAYLOAD, box: Box | None = QR_BOX, on_air: datetime | None = None) -> Finding:
    """The finding a QR-code rule makes of a personal WeChat code on screen for ``seconds``."""
    return Finding(
        id=finding_id(event_id, "traffic-diversion.qr-code", start, 0, payload), event_id=event_id,
        rule="traffic-diversion.qr-code", pack="cn-live-events@1.4.1", pack_sha256="0" * 64,
        category="traffic-diversion", severity="high", start_at=start, end_at=start + timedelta(seconds=seconds),
        offset_s=0.0 if on_air is None else (start - on_air).total_seconds(), matched="wechat-personal",
        evidence=payload, highlight=(0, len(payload)), normalized=payload, legal_basis=None, asr_confidence=None,
        low_confidence=False, rule_severity="high", title="Personal WeChat QR code", stream=0,
        details={"payload_class": "wechat-personal", "host": "u.wechat.com", "symbology": "QRCode"},
        channel="screen", frame=frame, box=box)


def frame_path(data: DataDir, event_id: str, relative: str) -> Path:
    return data.event_dir(event_id) / relative
