"""Image content and visual tokens, read from file headers (no pixels decoded). Rules DS51x.

LLaMA-Factory opens each image with PIL while it tokenizes, resizes it to `image_max_pixels` / `image_min_pixels`,
and the model's processor turns it into (height / factor) x (width / factor) visual tokens, where factor is the
vision patch size times the merge size. When `cutoff_len` cuts into those tokens, the forward pass fails with
"Image features and image tokens do not match", often hundreds of steps in (LLaMA-Factory #5964, #6559, #7160).

PNG, JPEG, GIF, WebP and BMP sizes are read here from their first bytes; other formats through PIL's header-only
`Image.open`, imported only then (PIL is optional: without it those files are not measured).
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
import time
import zlib
from typing import TYPE_CHECKING, Optional, Tuple

from lfgate.readers import guarded
from lfgate.registry import ERROR, rule

if TYPE_CHECKING:
    from typing import TypeGuard  # Python 3.10+; annotations are never evaluated at runtime here

# PIL's Image.MAX_IMAGE_PIXELS (PIL/Image.py); Image.open raises DecompressionBombError above twice that.
PIL_MAX_IMAGE_PIXELS = 89_478_485
BOMB_PIXELS = 2 * PIL_MAX_IMAGE_PIXELS


# PIL decodes an image that may be cut short (ImageChecker._cut_short): none over DECODE_PIXELS (a decoded 40 MP
# RGB image holds 120 MB, about a second), and per checker (one per dataset and worker) at most DECODE_CAP images,
# DECODE_BUDGET_PIXELS pixels and DECODE_BUDGET_SECONDS seconds in all. Each file is measured once, by identity
# (device, inode, size, mtime): one PNG named 1,200 ways (`./x.png`, `././x.png`...) is one file.
DECODE_CAP = 256
DECODE_PIXELS = 40_000_000
DECODE_BUDGET_PIXELS = 1_000_000_000
DECODE_BUDGET_SECONDS = 60.0


def png(width: int, height: int) -> bytes:
    """A black PNG of that size, 1 bit per pixel (cheap to build): whole up to DECODE_PIXELS, else only its header,
    enough for any header reader (used by the examples and tests)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
    if width * height > DECODE_PIXELS:
        return head
    return head + chunk(b"IDAT", zlib.compress(bytes((1 + (width + 7) // 8) * height), 6)) + chunk(b"IEND", b"")


_ENTRY = {"formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
          "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}


def _project(image: bytes, extra: str = "") -> dict:
    record = {"messages": [{"role": "user", "content": "<image>What is this?"},
                           {"role": "assistant", "content": "A cat."}], "images": ["cat.png"]}
    config = ("model_name_or_path: Qwen/Qwen2-VL-2B-Instruct\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
              "template: qwen2_vl\ndataset: cats\noutput_dir: saves/qwen2-vl/lora/sft\n" + extra)
    return {"train.yaml": config, "data/dataset_info.json": json.dumps({"cats": {"file_name": "cats.json", **_ENTRY}}),
            "data/cats.json": json.dumps([record]), "data/cat.png": image}


IMAGE_UNREADABLE = rule(
    "DS510", "image-unreadable", ERROR, "An image file that cannot be identified",
    why="LLaMA-Factory opens every image with PIL while it tokenizes; a file that is not an image, is empty or is "
        "cut short in its header raises `cannot identify image file` and stops the run. A PNG or JPEG cut after "
        "its header opens, then raises `image file is truncated` when the processor reads the pixels (lfgate "
        "decodes such a suspect, one whose file lacks its end marker, with PIL).",
    fix="Replace the file with a valid image, or drop the sample.",
    bad=_project(b"<html>not found</html>"), good=_project(png(64, 64)), target="train.yaml",
)
IMAGE_BOMB = rule(
    "DS511", "image-too-many-pixels", ERROR, "An image larger than PIL opens",
    why=f"PIL refuses images of more than {BOMB_PIXELS:,} pixels (twice PIL.Image.MAX_IMAGE_PIXELS) with "
        "DecompressionBombError, as protection against decompression bombs.",
    fix="Downscale the image before training.",
    bad=_project(png(20_000, 10_000)), good=_project(png(2_000, 1_000)), target="train.yaml",
)
VIDEO_UNREADABLE = rule(
    "DS513", "video-unreadable", ERROR, "An MP4/QuickTime video without its header or without a video track",
    why="LLaMA-Factory opens each video with PyAV and takes its first video stream: a file cut before its `moov` "
        "header fails with `moov atom not found`, one without a video track with StopIteration.",
    fix="Re-encode or replace the file, or drop the sample.",
    bad={**_project(png(64, 64)), "data/cats.json": json.dumps([{
        "messages": [{"role": "user", "content": "<video>What is this?"}, {"role": "assistant", "content": "A cat."}],
        "videos": ["cat.mp4"]}]),
        "data/dataset_info.json": json.dumps({"cats": {"file_name": "cats.json", **_ENTRY,
                                                       "columns": {"messages": "messages", "videos": "videos"}}}),
        "data/cat.mp4": b"\0\0\0\x14ftypisom\0\0\0\0isom" + b"\0\0\0\x10mdat" + b"\0" * 8},
    good=_project(png(64, 64)), target="train.yaml",
)
VISUAL_CUTOFF = rule(
    "DS512", "visual-tokens-exceed-cutoff", ERROR,
    "A sample's images and videos alone need more tokens than `cutoff_len`",
    why="Each image becomes (height / factor) x (width / factor) tokens after resizing to `image_max_pixels` "
        "(factor: patch size x merge size, 28 for Qwen2-VL and GLM-4V, 32 for Qwen3-VL); a video, frames / 2 times "
        "that after resizing to `video_max_pixels`, with frames sampled at `video_fps` up to `video_maxlen` (MP4, "
        "QuickTime and AVI files, read from their headers; Matroska and WebM, whose frame count PyAV does not know: "
        "every frame up to `video_maxlen`) or every frame of a frame list; LLaVA-1.5 and Gemma 3 images are "
        "a fixed 576 and 256 tokens. When they do not fit in "
        "`cutoff_len`, truncation cuts into them and the forward pass fails with \"Image features and image tokens "
        "do not match\", sometimes hundreds of steps in.",
    fix="Raise `cutoff_len`, or lower `image_max_pixels` (e.g. 262144 for 512x512).",
    bad=_project(png(1024, 1024), "cutoff_len: 512\n"), good=_project(png(1024, 1024), "cutoff_len: 2048\n"),
    target="train.yaml",
)


# -- header reading ------------------------------------------------------------------------------------------------
def _jpeg_size(f) -> Optional[Tuple[int, int]]:
    f.seek(2)
    for _ in range(10_000):  # markers before the frame header
        byte = f.read(1)
        while byte == b"\xff":
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        length_bytes = f.read(2)
        if len(length_bytes) < 2:
            return None
        length = struct.unpack(">H", length_bytes)[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            data = f.read(5)
            if len(data) < 5:
                return None
            height, width = struct.unpack(">HH", data[1:5])
            return width, height
        if length < 2:
            return None
        f.seek(length - 2, os.SEEK_CUR)
    return None


def _webp_size(head: bytes) -> Optional[Tuple[int, int]]:
    kind = head[12:16]
    if kind == b"VP8 " and len(head) >= 30:
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


class NotAnImage(Exception):
    pass


def image_size(path: str) -> Optional[Tuple[int, int]]:
    """(width, height) from the header; None when the format is not one read here and PIL is absent.
    Raises NotAnImage when the file cannot be identified, OSError when it cannot be read."""
    with guarded.open_regular(path) as f:
        head = f.read(64)
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            if len(head) < 24 or head[12:16] != b"IHDR":
                raise NotAnImage("a PNG cut short before its header ends")
            return struct.unpack(">II", head[16:24])
        if head.startswith(b"\xff\xd8"):
            size = _jpeg_size(f)
            if size is None:
                raise NotAnImage("a JPEG without a readable frame header (cut short?)")
            return size
        if head[:6] in (b"GIF87a", b"GIF89a"):
            if len(head) < 10:
                raise NotAnImage("a GIF cut short before its header ends")
            return struct.unpack("<HH", head[6:10])
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            size = _webp_size(head)
            if size is None:
                raise NotAnImage("a WebP without a readable header")
            return size
        if head.startswith(b"BM") and len(head) >= 26:
            width, height = struct.unpack("<ii", head[18:26])
            return abs(width), abs(height)
    return _pil_size(path, head)


def _pil_size(path: str, head: bytes) -> Optional[Tuple[int, int]]:
    try:
        from PIL import Image  # optional; header only: Image.open reads no pixels
    except ImportError:
        if not head or head.lstrip()[:1] in (b"<", b"{", b"["):  # empty, HTML, JSON: no image format starts so
            raise NotAnImage("an empty file" if not head else "text, not an image") from None
        return None
    try:
        with Image.open(path) as image:
            return image.size
    except Image.DecompressionBombError:
        raise
    except (OSError, ValueError, SyntaxError) as err:
        raise NotAnImage(str(err) or "PIL cannot identify it") from None


# -- a file cut after its header -----------------------------------------------------------------------------------
# A PNG ends with its IEND chunk, a JPEG with the EOI marker (FF D9). PIL reads the size from the header, so a file
# cut short opens; it raises "image file is truncated" when LLaMA-Factory's processor reads the pixels (neither
# LLaMA-Factory nor transformers sets PIL's ImageFile.LOAD_TRUNCATED_IMAGES). PIL 13 raises for a JPEG without its
# EOI, not for a PNG without IEND after whole image data. So a missing end is only a suspicion (data may also follow
# it, as in motion photos): PIL decodes each suspect.
_PNG_SIGNATURE, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
_TAIL = 4096


def ends_whole(path: str) -> bool:
    """False for a PNG or JPEG whose last 4 KiB hold no IEND chunk / EOI marker (other formats: True)."""
    with guarded.open_regular(path) as f:
        head = f.read(8)
        size = f.seek(0, os.SEEK_END)
        f.seek(max(8, size - _TAIL))
        tail = f.read(_TAIL)
    if head.startswith(_PNG_SIGNATURE):
        return _PNG_END in tail
    if head.startswith(b"\xff\xd8"):
        return b"\xff\xd9" in tail
    return True


def decode_problem(path: str) -> Optional[str]:
    """What PIL raises when it reads the pixels, else None (also when PIL is absent: nothing is claimed)."""
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError) as err:
        return str(err) or type(err).__name__
    except Exception:  # a decoder surprise is not evidence of a cut file
        return None
    return None


# -- video headers (MP4 / QuickTime boxes) ---------------------------------------------------------------------------
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
MAX_BOX_DEPTH = 8  # moov > trak > mdia > minf > stbl is 5 deep
MAX_BOXES = 100_000  # boxes read per file: a real header has a few dozen


def _box_at(f, start: int, end: int):
    """(type, payload start, box end) of the box at start, or None when none fits before end."""
    if start + 8 > end:
        return None
    f.seek(start)
    header = f.read(8)
    if len(header) < 8:
        return None
    size, kind = struct.unpack(">I4s", header)
    payload = start + 8
    if size == 1:
        large = f.read(8)
        if len(large) < 8:
            return None
        size, payload = struct.unpack(">Q", large)[0], start + 16
    elif size == 0:
        size = end - start
    if size < 8 or start + size > end:
        return None
    return kind, payload, start + size


def _walk(f, end: int, info: dict) -> None:
    """Every box of the file, depth first without recursion (a file of 5,000 nested `trak` boxes is 40 KB), to
    MAX_BOX_DEPTH levels and MAX_BOXES boxes."""
    # each frame: (next box's offset, where this level ends, its track, depth); or ("close", track) after a trak
    stack: list = [(0, end, {}, 0)]
    boxes = 0
    while stack and boxes < MAX_BOXES:
        frame = stack.pop()
        if frame[0] == "close":
            if frame[1].get("handler") == b"vide" and "video" not in info:
                info["video"] = frame[1]
            continue
        at, level_end, track, depth = frame
        box = _box_at(f, at, level_end)
        if box is None:
            continue
        boxes += 1
        kind, payload, stop = box
        stack.append((stop, level_end, track, depth))  # the siblings after this box, once its children are done
        f.seek(payload)
        if kind == b"moov":
            info["moov"] = True
        if kind in _CONTAINERS:
            if depth + 1 >= MAX_BOX_DEPTH:
                continue
            if kind == b"trak":
                current: dict = {}
                stack.append(("close", current))
                stack.append((payload, stop, current, depth + 1))
            else:
                stack.append((payload, stop, track, depth + 1))
        elif kind == b"tkhd":
            data = f.read(min(stop - payload, 1 << 10))
            if len(data) >= 8 and stop - payload <= 1 << 10:
                track["width"], track["height"] = (x >> 16 for x in struct.unpack(">II", data[-8:]))
        elif kind == b"mdhd":
            data = f.read(32)
            if data[:1] == b"\x01" and len(data) >= 32:
                track["timescale"], track["duration"] = struct.unpack(">IQ", data[20:32])
            elif len(data) >= 20:
                track["timescale"], track["duration"] = struct.unpack(">II", data[12:20])
        elif kind == b"hdlr":
            track["handler"] = f.read(12)[8:12]
        elif kind == b"stsz":
            data = f.read(12)
            if len(data) == 12:
                track["frames"] = struct.unpack(">I", data[8:12])[0]


def video_info(path: str) -> Optional[Tuple[int, int, int, Optional[float]]]:
    """(width, height, frames, seconds) of a video file's first video track, from its header: MP4/QuickTime, AVI,
    Matroska/WebM (seconds None: PyAV reports no frame count for Matroska, see video_frames). None for other
    containers or when the header does not say; NotAnImage for an MP4 LLaMA-Factory cannot open."""
    with guarded.open_regular(path) as f:
        head = f.read(12)
        end = f.seek(0, os.SEEK_END)
        f.seek(0)
        if head[4:8] == b"ftyp":
            return _mp4_info(f, end)
        if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
            return _avi_info(f, end)
        if head[:4] == b"\x1a\x45\xdf\xa3":
            return _matroska_info(f, end)
    return None


def _mp4_info(f, end: int):
    info: dict = {}
    _walk(f, end, info)
    if not info.get("moov"):
        raise NotAnImage("an MP4/QuickTime file without its `moov` header (cut short?): PyAV raises `moov atom not "
                         "found`")
    if "video" not in info:
        raise NotAnImage("no video track (LLaMA-Factory takes the first video stream: StopIteration)")
    video = info.get("video") or {}
    if not all(video.get(k) for k in ("width", "height", "frames", "timescale")):
        return None
    return video["width"], video["height"], video["frames"], video.get("duration", 0) / video["timescale"]


# AVI (RIFF): LIST hdrl > LIST strl > strh (fccType, dwScale, dwRate, dwLength) and strf (BITMAPINFOHEADER) per
# stream. FFmpeg's AVI demuxer gives PyAV the stream's frame count and duration from strh.
def _riff_chunks(f, end: int):
    while f.tell() + 8 <= end:
        start = f.tell()
        kind, size = struct.unpack("<4sI", f.read(8))
        stop = start + 8 + size + (size & 1)
        if start + 8 + size > end:
            return
        yield kind, start + 8, start + 8 + size
        f.seek(stop)


def _avi_info(f, end: int):
    f.seek(12)
    for kind, _, stop in _riff_chunks(f, end):
        if kind == b"LIST" and f.read(4) == b"hdrl":
            for inner, at, inner_stop in _riff_chunks(f, stop):
                if inner == b"LIST" and f.read(4) == b"strl":
                    track = _avi_stream(f, inner_stop)
                    if track is not None:
                        return track
                f.seek(inner_stop + ((inner_stop - at) & 1))
            return None
        if kind == b"movi":
            return None
    return None


def _avi_stream(f, end: int):
    """(width, height, frames, seconds) of a video stream's strl list, else None (another stream type)."""
    header = size = None
    for kind, payload, stop in _riff_chunks(f, end):
        data = f.read(min(stop - payload, 64))
        if kind == b"strh" and len(data) >= 36:
            header = data
        elif kind == b"strf" and len(data) >= 12:
            size = struct.unpack("<ii", data[4:12])
        f.seek(stop)
    if header is None or header[:4] != b"vids" or size is None:
        return None
    scale, rate, _, length = struct.unpack("<IIII", header[20:36])
    if not (length and scale and rate and size[0]):
        return None
    return abs(size[0]), abs(size[1]), length, length * scale / rate


# Matroska / WebM (EBML): Segment > Info (TimecodeScale, Duration) and Tracks > TrackEntry (TrackType 1 = video,
# DefaultDuration in ns per frame, Video > PixelWidth / PixelHeight), read up to the first Cluster.
_EBML_SEGMENT, _EBML_CLUSTER = 0x18538067, 0x1F43B675
_EBML_INFO, _EBML_TRACKS, _EBML_TRACK, _EBML_VIDEO = 0x1549A966, 0x1654AE6B, 0xAE, 0xE0
_EBML_SCALE, _EBML_DURATION, _EBML_TYPE, _EBML_FRAME_NS = 0x2AD7B1, 0x4489, 0x83, 0x23E383
_EBML_WIDTH, _EBML_HEIGHT = 0xB0, 0xBA
_EBML_MAX_ELEMENTS = 20_000


def _vint(f, keep_marker: bool):
    first = f.read(1)
    if not first:
        return None, 0
    length = 9 - first[0].bit_length() if first[0] else 9
    if length > 8:
        return None, 1
    rest = f.read(length - 1)
    if len(rest) < length - 1:
        return None, length
    value = first[0] if keep_marker else first[0] & ((1 << (8 - length)) - 1)
    for byte in rest:
        value = (value << 8) | byte
    if not keep_marker and value == (1 << (7 * length)) - 1:
        value = -1  # unknown size
    return value, length


def _ebml(f, end: int, counter: list):
    """(id, payload start, payload end) of each element between f.tell() and end."""
    while f.tell() < end and counter[0] < _EBML_MAX_ELEMENTS:
        counter[0] += 1
        element, _ = _vint(f, True)
        size, _ = _vint(f, False)
        if element is None or size is None:
            return
        payload = f.tell()
        stop = end if size < 0 else payload + size
        if stop > end:
            stop = end
        yield element, payload, stop
        if size >= 0:
            f.seek(stop)


def _ebml_number(f, payload: int, stop: int) -> Optional[float]:
    data = f.read(min(stop - payload, 8))
    if stop - payload in (4, 8) and len(data) == stop - payload:
        return struct.unpack(">f" if len(data) == 4 else ">d", data)[0]
    return None


def _ebml_uint(f, payload: int, stop: int) -> int:
    return int.from_bytes(f.read(min(stop - payload, 8)), "big")


def _matroska_info(f, end: int):
    counter: list = [0]
    found: dict = {"scale": 1_000_000}  # TimecodeScale's default: 1 ms ticks
    for element, _, stop in _ebml(f, end, counter):
        if element != _EBML_SEGMENT:
            continue
        for child, _, child_stop in _ebml(f, stop, counter):
            if child == _EBML_CLUSTER:
                break
            if child == _EBML_INFO:
                for item, start, item_stop in _ebml(f, child_stop, counter):
                    if item == _EBML_SCALE:
                        found["scale"] = _ebml_uint(f, start, item_stop)
                    elif item == _EBML_DURATION:
                        found["duration"] = _ebml_number(f, start, item_stop)
            elif child == _EBML_TRACKS and "video" not in found:
                _matroska_tracks(f, child_stop, counter, found)
        break
    video: dict = found.get("video") or {}
    duration, frame_ns = found.get("duration"), video.get("frame_ns")
    if not (video.get("width") and video.get("height") and duration and frame_ns and found["scale"]):
        return None
    frames = math.floor(duration * found["scale"] / frame_ns)  # whole frames only: never more than the file has
    return video["width"], video["height"], frames, None


def _matroska_tracks(f, end: int, counter: list, found: dict) -> None:
    for element, _, stop in _ebml(f, end, counter):
        if element != _EBML_TRACK:
            continue
        track: dict = {}
        for item, start, item_stop in _ebml(f, stop, counter):
            if item == _EBML_TYPE:
                track["type"] = _ebml_uint(f, start, item_stop)
            elif item == _EBML_FRAME_NS:
                track["frame_ns"] = _ebml_uint(f, start, item_stop)
            elif item == _EBML_VIDEO:
                for field_, at, field_stop in _ebml(f, item_stop, counter):
                    if field_ == _EBML_WIDTH:
                        track["width"] = _ebml_uint(f, at, field_stop)
                    elif field_ == _EBML_HEIGHT:
                        track["height"] = _ebml_uint(f, at, field_stop)
        if track.get("type") == 1:
            found["video"] = track
            return


# -- visual tokens -------------------------------------------------------------------------------------------------
# factor = vision patch size x spatial merge size, from each family's image processor (preprocessor_config.json):
# Qwen2-VL / Qwen2.5-VL / Qwen2.5-Omni / GLM-4V: patch 14, merge 2; Qwen3-VL / Qwen3-Omni: patch 16, merge 2.
_FACTOR_BY_PLUGIN = {"Qwen2VLPlugin": 28, "GLM4VPlugin": 28, "Qwen2OmniPlugin": 28, "Qwen3VLPlugin": 32}
_FACTOR_BY_TEMPLATE = {"qwen3_omni": 32, "qwen3_omni_nothink": 32}
# Families whose every image is a fixed number of tokens in the text, whatever its size: LLaVA-1.5 (CLIP ViT-L/14
# at 336 px: 24 x 24 = 576, LlavaPlugin.process_messages), Gemma 3 (mm_tokens_per_image = 256, its
# full_image_sequence). PaliGemma prepends its image tokens outside the turns that are truncated: not counted here.
_FIXED_BY_PLUGIN = {"LlavaPlugin": 576, "Gemma3Plugin": 256}


def _fixed_tokens(plugin: str, model_config: dict) -> int:
    """A local model's own count (vision_config image_size / patch_size, squared), else the family's."""
    nested = model_config.get("vision_config")
    vision = nested if isinstance(nested, dict) else {}
    size, patch = vision.get("image_size"), vision.get("patch_size")
    if plugin == "LlavaPlugin" and _positive(size) and _positive(patch):
        return (size // patch) ** 2
    if plugin == "Gemma3Plugin" and _positive(model_config.get("mm_tokens_per_image")):
        return model_config["mm_tokens_per_image"]
    return _FIXED_BY_PLUGIN.get(plugin, 0)


def vision_settings(config, template_info: Optional[dict]) -> Optional[tuple]:
    """(factor, image_max_pixels, image_min_pixels, processor max pixels, video_max_pixels, video_min_pixels,
    video_fps, video_maxlen, fixed tokens per image) for a template whose visual token count is known, else None.
    A local model's preprocessor_config.json / config.json overrides the family's values."""
    template = config.values.get("template")
    if not template_info:
        return None
    plugin = template_info.get("plugin") or ""  # "": a template without a multimodal plugin
    factor = _FACTOR_BY_TEMPLATE.get(template) or _FACTOR_BY_PLUGIN.get(plugin)
    if factor is None and plugin not in _FIXED_BY_PLUGIN:
        return None
    processor_max, fixed = 0, 0  # processor max 0: unknown, only LLaMA-Factory's own resize applies
    model = config.values.get("model_name_or_path")
    if plugin in _FIXED_BY_PLUGIN:
        folder = config.resolve(model) if isinstance(model, str) and model else ""
        fixed = _fixed_tokens(plugin, _read_json(os.path.join(folder, "config.json")) if folder else {})
    elif isinstance(model, str) and model:
        preprocessor = _read_json(os.path.join(config.resolve(model), "preprocessor_config.json"))
        patch, merge = preprocessor.get("patch_size"), preprocessor.get("merge_size")
        if _positive(patch) and _positive(merge):
            factor = patch * merge
        size_entry = preprocessor.get("size")
        size = size_entry if isinstance(size_entry, dict) else {}
        top = preprocessor.get("max_pixels") or size.get("longest_edge") or size.get("max_pixels")
        processor_max = top if _positive(top) else 0
    numbers = [config.get(k) for k in ("image_max_pixels", "image_min_pixels", "video_max_pixels", "video_min_pixels",
                                       "video_fps", "video_maxlen")]
    if not all(isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n) and n >= 0
               for n in numbers) or not (numbers[0] and numbers[2]):
        return None
    image_max, image_min, video_max, video_min, video_fps, video_maxlen = numbers
    return factor or 0, int(image_max), int(image_min), processor_max, int(video_max), int(video_min), video_fps, \
        int(video_maxlen), fixed


def _positive(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _read_json(path: str) -> dict:
    return guarded.read_json_object(path) or {}


def visual_tokens(width: int, height: int, vision: tuple) -> int:
    """Tokens of one image: LLaMA-Factory's resize (mm_plugin._preprocess_image, and Qwen2VLPlugin's 28-px and
    aspect fixes), then the processor's smart_resize (transformers' Qwen2-VL image processor)."""
    factor, max_pixels, min_pixels, processor_max = vision[:4]
    if len(vision) > 8 and vision[8]:
        return vision[8]
    if width <= 0 or height <= 0 or not factor:
        return 0
    if width * height > max_pixels:
        scale = math.sqrt(max_pixels / (width * height))
        width, height = int(width * scale), int(height * scale)
    if 0 < width * height < min_pixels:
        scale = math.sqrt(min_pixels / (width * height))
        width, height = int(width * scale), int(height * scale)
    width, height = max(width, 28), max(height, 28)
    if width / height > 200:
        width = height * 180
    elif height / width > 200:
        height = width * 180
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if processor_max and h_bar * w_bar > processor_max:
        beta = math.sqrt(height * width / processor_max)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    return (h_bar // factor) * (w_bar // factor)


def video_frames(frames: int, seconds: float, vision: tuple) -> int:
    """Frames LLaMA-Factory samples from a video file (BasePlugin._get_video_sample_indices), padded to an even
    count for the processor's temporal patch of 2 (Qwen2VLPlugin._regularize_videos)."""
    video_fps, video_maxlen = vision[6], vision[7]
    if seconds is None:  # no frame count for PyAV (Matroska, WebM): LLaMA-Factory decodes up to video_maxlen frames
        sampled = min(frames, video_maxlen)
    else:
        sampled = min(frames, video_maxlen, max(1, math.floor(seconds * video_fps))) if frames else video_maxlen
    return sampled + sampled % 2


def video_tokens(width: int, height: int, frames: int, vision: tuple) -> int:
    """Tokens of one video of `frames` frames (already sampled and padded): frames / 2 temporal patches, each frame
    resized with video_max_pixels / video_min_pixels (transformers' Qwen2-VL video processor)."""
    if len(vision) > 8 and vision[8]:
        return 0  # videos of the fixed-count families are not modelled (counted as none: no false error)
    per_frame = visual_tokens(width, height, (vision[0], vision[4], vision[5], 0))
    return (frames // 2) * per_frame


def identity(path: str) -> Optional[tuple]:
    """(device, inode, size, mtime) of a regular file (after links), else None: the key of every per-file cache,
    so a file named many ways is read once."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


class ImageChecker:
    """Per worker: measures each image once and reports what LLaMA-Factory would fail on."""

    def __init__(self, usage):
        self.vision = getattr(usage, "vision", None)
        self.cutoff_len = getattr(usage, "cutoff_len", None)
        self._sizes: dict = {}  # identity(path) -> size, ("unreadable", why), ("bomb", why) or None
        self._decoded = 0  # suspects PIL decoded (DECODE_CAP)
        self._decode_pixels = 0  # their pixels (DECODE_BUDGET_PIXELS)
        self._decode_seconds = 0.0  # and the time they took (DECODE_BUDGET_SECONDS)

    def _measure(self, path: str, key: Optional[tuple] = None):
        key = key or identity(path)
        if key is None:
            return None
        if key not in self._sizes:
            if len(self._sizes) > 100_000:
                self._sizes.clear()
            try:
                self._sizes[key] = self._cut_short(path, image_size(path))
            except NotAnImage as err:
                self._sizes[key] = ("unreadable", str(err))
            except OSError:
                self._sizes[key] = None  # unreadable files are the file rules' to report
            except Exception as err:  # PIL's DecompressionBombError and any decoder surprise
                self._sizes[key] = ("bomb", str(err)) if "DecompressionBomb" in type(err).__name__ else None
        return self._sizes[key]

    def _cut_short(self, path: str, size):
        """size, or ("unreadable", why) for an image whose pixels PIL cannot read (the file ends too early)."""
        if not size or size[0] * size[1] > DECODE_PIXELS or self._decoded >= DECODE_CAP or ends_whole(path):
            return size
        pixels = size[0] * size[1]
        if self._decode_pixels + pixels > DECODE_BUDGET_PIXELS or self._decode_seconds > DECODE_BUDGET_SECONDS:
            return size  # the budget is spent: a suspicion only, never an error without the decode
        self._decoded += 1
        self._decode_pixels += pixels
        started = time.monotonic()
        problem = decode_problem(path)
        self._decode_seconds += time.monotonic() - started
        return ("unreadable", f"cut short after its header: PIL raises `{problem}` reading the pixels") \
            if problem else size

    def check(self, index: int, images, column: str, finding) -> tuple:
        """(findings, visual tokens) for one sample's image paths; finding(rule, message, path) builds one."""
        out, tokens = [], 0
        for i, path in enumerate(images or ()):
            key = identity(path) if isinstance(path, str) else None
            if key is None:  # missing or not a regular file: the media rules report it
                continue
            size = self._measure(path, key)
            where = (column, i)
            if size is None:
                continue
            if size[0] in ("unreadable", "bomb"):
                rule_ = IMAGE_UNREADABLE if size[0] == "unreadable" else IMAGE_BOMB
                out.append(finding(rule_, f"{os.path.basename(path)!r} cannot be opened by PIL ({size[1]}): the run "
                                          "stops when it reaches this sample. Replace the file or drop the sample",
                                   where))
                continue
            width, height = size
            if width * height > BOMB_PIXELS:
                out.append(finding(IMAGE_BOMB, f"{os.path.basename(path)!r} is {width}x{height} "
                                               f"({width * height:,} pixels): PIL refuses more than {BOMB_PIXELS:,} "
                                               "(DecompressionBombError). Downscale it", where))
                continue
            if self.vision:
                tokens += visual_tokens(width, height, self.vision)
        return out, tokens

    def _video(self, path: str):
        key = ("video", identity(path))
        if key[1] is None:
            return None
        if key not in self._sizes:
            try:
                self._sizes[key] = video_info(path)
            except NotAnImage as err:
                self._sizes[key] = ("unreadable", str(err))
            except (OSError, struct.error, ValueError, OverflowError, ZeroDivisionError):
                self._sizes[key] = None
        return self._sizes[key]

    def video_tokens(self, videos) -> int:
        """Visual tokens of a sample's videos: frame lists (every frame kept), MP4/QuickTime and AVI files (sampled at
        video_fps, at most video_maxlen frames), Matroska/WebM files (every frame, at most video_maxlen); other
        containers are not measured (counted as 0)."""
        total = 0
        for video in videos or ():
            if isinstance(video, list):
                sizes = [self._measure(frame) if isinstance(frame, str) else None for frame in video]
                first = sizes[0] if sizes else None
                if isinstance(first, tuple) and all(isinstance(s, tuple) and isinstance(s[0], int) for s in sizes):
                    width, height = first
                    total += video_tokens(width, height, len(sizes) + len(sizes) % 2, self.vision)
            elif isinstance(video, str):
                info = self._video(video)
                if info and info[0] != "unreadable":
                    width, height, frames, seconds = info
                    total += video_tokens(width, height, video_frames(frames, seconds, self.vision), self.vision)
        return total

    def check_sample(self, index: int, images, videos, columns, finding) -> list:
        """Image findings and the visual tokens of a sample's images and videos against cutoff_len."""
        out, tokens = self.check(index, images, columns[0], finding)
        for i, video in enumerate(videos or ()):
            info = self._video(video) if isinstance(video, str) else None
            if info and info[0] == "unreadable":
                out.append(finding(VIDEO_UNREADABLE, f"{os.path.basename(video)!r} cannot be opened as a video "
                                                     f"({info[1]}): the run stops when it reaches this sample. "
                                                     "Replace the file or drop the sample", (columns[1], i)))
        if not self.vision or not self.cutoff_len:
            return out
        video = self.video_tokens(videos) if videos else 0
        if tokens + video >= self.cutoff_len:
            column = columns[1] if video and not tokens else columns[0]
            what = " and ".join(w for w, n in (("images", tokens), ("videos", video)) if n)
            out.append(finding(VISUAL_CUTOFF, f"the {what} need {tokens + video:,} visual tokens (after resizing to "
                                              f"image_max_pixels {self.vision[1]:,} / video_max_pixels "
                                              f"{self.vision[4]:,}), but `cutoff_len` is {self.cutoff_len:,}: "
                                              "truncation cuts into them and training fails with \"Image features "
                                              "and image tokens do not match\". Raise cutoff_len or lower "
                                              "image_max_pixels / video_max_pixels", (column,)))
        return out
