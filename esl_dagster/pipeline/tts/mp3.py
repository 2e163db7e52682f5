"""MPEG audio Layer III frame walking: tells a complete MP3 body from a truncated or foreign one.

A provider response is only cached when every frame after the optional ID3v2 tag is whole and the
frames end exactly at the end of the body (an ID3v1 ``TAG`` trailer is allowed).
"""

from dataclasses import dataclass

_BITRATES_KBPS = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {
    1: (44100, 48000, 32000),
    2: (22050, 24000, 16000),
    25: (11025, 12000, 8000),
}
_VERSION_BITS = {0b11: 1, 0b10: 2, 0b00: 25}
_ID3V1_SIZE = 128


@dataclass(frozen=True)
class Mp3Scan:
    """What a frame walk found. ``complete`` is False for truncated or non-MP3 bodies."""

    complete: bool
    frames: int
    sample_rate: int | None
    reason: str | None = None


def _id3v2_length(data: bytes) -> int:
    if len(data) < 10 or data[:3] != b"ID3":
        return 0
    size = 0
    for byte in data[6:10]:
        size = (size << 7) | (byte & 0x7F)
    footer = 10 if data[5] & 0x10 else 0
    return 10 + size + footer


def _frame_length(header: bytes) -> tuple[int, int] | None:
    """(frame length in bytes, sample rate) for a Layer III header, None if not a valid header."""
    if header[0] != 0xFF or (header[1] & 0xE0) != 0xE0:
        return None
    version = _VERSION_BITS.get((header[1] >> 3) & 0b11)
    layer = (header[1] >> 1) & 0b11
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 0b11
    if version is None or layer != 0b01 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    bitrate = _BITRATES_KBPS[1 if version == 1 else 2][bitrate_index] * 1000
    sample_rate = _SAMPLE_RATES[version][rate_index]
    padding = (header[2] >> 1) & 1
    factor = 144 if version == 1 else 72
    return factor * bitrate // sample_rate + padding, sample_rate


def scan_mp3(data: bytes) -> Mp3Scan:
    """Walk every frame of ``data``; see the module docstring for what counts as complete."""
    offset = _id3v2_length(data)
    if offset > len(data):
        return Mp3Scan(False, 0, None, "truncated ID3 tag")
    end = len(data)
    if end - offset >= _ID3V1_SIZE and data[end - _ID3V1_SIZE : end - _ID3V1_SIZE + 3] == b"TAG":
        end -= _ID3V1_SIZE
    frames = 0
    sample_rate: int | None = None
    while offset < end:
        if end - offset < 4:
            return Mp3Scan(False, frames, sample_rate, f"trailing {end - offset} bytes")
        parsed = _frame_length(data[offset : offset + 4])
        if parsed is None:
            return Mp3Scan(False, frames, sample_rate, f"no MPEG frame header at byte {offset}")
        length, sample_rate = parsed
        if offset + length > end:
            return Mp3Scan(False, frames, sample_rate, f"last frame cut at byte {end}")
        offset += length
        frames += 1
    if frames == 0:
        return Mp3Scan(False, 0, None, "no MPEG audio frames")
    return Mp3Scan(True, frames, sample_rate)


def is_complete_mp3(data: bytes) -> bool:
    return scan_mp3(data).complete
