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
import struct
from typing import TYPE_CHECKING, Optional, Tuple

from lfgate.registry import ERROR, rule

if TYPE_CHECKING:
    from typing import TypeGuard  # Python 3.10+; annotations are never evaluated at runtime here

# PIL's Image.MAX_IMAGE_PIXELS (PIL/Image.py); Image.open raises DecompressionBombError above twice that.
PIL_MAX_IMAGE_PIXELS = 89_478_485
BOMB_PIXELS = 2 * PIL_MAX_IMAGE_PIXELS


def png(width: int, height: int) -> bytes:
    """The first bytes of a PNG of that size: enough for any header reader (used by the examples and tests)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0"


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
        "cut short raises `cannot identify image file` and stops the run.",
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
        "that after resizing to `video_max_pixels`, with frames sampled at `video_fps` up to `video_maxlen` (MP4 and "
        "QuickTime files, read from their headers) or every frame of a frame list; LLaVA-1.5 and Gemma 3 images are "
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
    with open(path, "rb") as f:
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


# -- video headers (MP4 / QuickTime boxes) ---------------------------------------------------------------------------
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _boxes(f, end: int, depth: int = 0):
    """(type, payload start, payload end) of each box between f.tell() and end."""
    while f.tell() + 8 <= end:
        start = f.tell()
        header = f.read(8)
        size, kind = struct.unpack(">I4s", header)
        payload = start + 8
        if size == 1:
            size = struct.unpack(">Q", f.read(8))[0]
            payload = start + 16
        elif size == 0:
            size = end - start
        if size < 8 or start + size > end:
            return
        yield kind, payload, start + size
        f.seek(start + size)


def _walk(f, end: int, info: dict, track: dict, depth: int = 0) -> None:
    for kind, payload, stop in list(_boxes(f, end)):
        f.seek(payload)
        if kind == b"moov":
            info["moov"] = True
        if kind == b"trak":
            current: dict = {}
            _walk(f, stop, info, current, depth + 1)
            if current.get("handler") == b"vide" and "video" not in info:
                info["video"] = current
        elif kind in _CONTAINERS and depth < 8:
            _walk(f, stop, info, track, depth + 1)
        elif kind == b"tkhd":
            data = f.read(stop - payload)
            if len(data) >= 8:
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
        f.seek(stop)


def video_info(path: str) -> Optional[Tuple[int, int, int, float]]:
    """(width, height, frames, seconds) of an MP4/QuickTime file's first video track; None for other containers
    or when the header does not say."""
    with open(path, "rb") as f:
        if f.read(12)[4:8] != b"ftyp":
            return None
        end = f.seek(0, os.SEEK_END)
        f.seek(0)
        info: dict = {}
        _walk(f, end, info, {})
    if not info.get("moov"):
        raise NotAnImage("an MP4/QuickTime file without its `moov` header (cut short?): PyAV raises `moov atom not "
                         "found`")
    if "video" not in info:
        raise NotAnImage("no video track (LLaMA-Factory takes the first video stream: StopIteration)")
    video = info.get("video") or {}
    if not all(video.get(k) for k in ("width", "height", "frames", "timescale")):
        return None
    return video["width"], video["height"], video["frames"], video.get("duration", 0) / video["timescale"]


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
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


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
    sampled = min(frames, video_maxlen, max(1, math.floor(seconds * video_fps))) if frames else video_maxlen
    return sampled + sampled % 2


def video_tokens(width: int, height: int, frames: int, vision: tuple) -> int:
    """Tokens of one video of `frames` frames (already sampled and padded): frames / 2 temporal patches, each frame
    resized with video_max_pixels / video_min_pixels (transformers' Qwen2-VL video processor)."""
    if len(vision) > 8 and vision[8]:
        return 0  # videos of the fixed-count families are not modelled (counted as none: no false error)
    per_frame = visual_tokens(width, height, (vision[0], vision[4], vision[5], 0))
    return (frames // 2) * per_frame


class ImageChecker:
    """Per worker: measures each image once and reports what LLaMA-Factory would fail on."""

    def __init__(self, usage):
        self.vision = getattr(usage, "vision", None)
        self.cutoff_len = getattr(usage, "cutoff_len", None)
        self._sizes: dict = {}

    def _measure(self, path: str):
        if path not in self._sizes:
            if len(self._sizes) > 100_000:
                self._sizes.clear()
            try:
                self._sizes[path] = image_size(path)
            except NotAnImage as err:
                self._sizes[path] = ("unreadable", str(err))
            except OSError:
                self._sizes[path] = None  # unreadable files are the file rules' to report
            except Exception as err:  # PIL's DecompressionBombError and any decoder surprise
                self._sizes[path] = ("bomb", str(err)) if "DecompressionBomb" in type(err).__name__ else None
        return self._sizes[path]

    def check(self, index: int, images, column: str, finding) -> tuple:
        """(findings, visual tokens) for one sample's image paths; finding(rule, message, path) builds one."""
        out, tokens = [], 0
        for i, path in enumerate(images or ()):
            if not isinstance(path, str) or not os.path.isfile(path):
                continue
            size = self._measure(path)
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
        key = ("video", path)
        if key not in self._sizes:
            try:
                self._sizes[key] = video_info(path)
            except NotAnImage as err:
                self._sizes[key] = ("unreadable", str(err))
            except (OSError, struct.error, ValueError):
                self._sizes[key] = None
        return self._sizes[key]

    def video_tokens(self, videos) -> int:
        """Visual tokens of a sample's videos: frame lists (every frame kept) and MP4/QuickTime files (sampled at
        video_fps, at most video_maxlen frames); other containers are not measured (counted as 0)."""
        total = 0
        for video in videos or ():
            if isinstance(video, list):
                sizes = [self._measure(frame) if isinstance(frame, str) and os.path.isfile(frame) else None
                         for frame in video]
                first = sizes[0] if sizes else None
                if isinstance(first, tuple) and all(isinstance(s, tuple) and isinstance(s[0], int) for s in sizes):
                    width, height = first
                    total += video_tokens(width, height, len(sizes) + len(sizes) % 2, self.vision)
            elif isinstance(video, str) and os.path.isfile(video):
                info = self._video(video)
                if info and info[0] != "unreadable":
                    width, height, frames, seconds = info
                    total += video_tokens(width, height, video_frames(frames, seconds, self.vision), self.vision)
        return total

    def check_sample(self, index: int, images, videos, columns, finding) -> list:
        """Image findings and the visual tokens of a sample's images and videos against cutoff_len."""
        out, tokens = self.check(index, images, columns[0], finding)
        for i, video in enumerate(videos or ()):
            info = self._video(video) if isinstance(video, str) and os.path.isfile(video) else None
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
