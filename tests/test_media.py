"""Image headers and visual tokens (validator/media.py, DS51x): sizes read without decoding, against PIL."""

import io
import json
import pathlib
import struct

import pytest

from conftest import write_project
from helpers import check_json, find
from lfgate.validator import media


@pytest.mark.parametrize("fmt, kwargs", [("PNG", {}), ("JPEG", {}), ("JPEG", {"progressive": True}), ("GIF", {}),
                                         ("WEBP", {"lossless": True}), ("WEBP", {"quality": 50}), ("BMP", {})])
@pytest.mark.parametrize("size", [(1, 1), (37, 901), (1280, 720)])
def test_header_sizes_match_pil(tmp_path, fmt, kwargs, size):
    image_module = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    image_module.new("RGB", size, (10, 20, 30)).save(buffer, fmt, **kwargs)
    path = tmp_path / f"x.{fmt.lower()}"
    path.write_bytes(buffer.getvalue())
    assert media.image_size(str(path)) == size


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n\0\0", b"\xff\xd8\xff\xe0\0\x10JFIF", b"<html></html>",
                                  b"GIF89a\x01"])
def test_unidentifiable_files(tmp_path, data):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    with pytest.raises(media.NotAnImage):
        media.image_size(str(path))


@pytest.mark.parametrize("size, vision, tokens", [
    ((768, 768), (28, 589824, 1024, 12845056), 729),  # Qwen2-VL: 756 x 756 -> 27 x 27 merged patches
    ((1024, 1024), (28, 589824, 1024, 0), 729),  # LLaMA-Factory first resizes to image_max_pixels (768 x 768)
    ((10, 10), (28, 589824, 0, 0), 1),  # a side under 28 px is padded to 28 by Qwen2VLPlugin, not an error
    ((1024, 1024), (32, 589824, 1024, 0), 576),  # Qwen3-VL: 768 / 32 = 24
    ((448, 448), (28, 589824, 1024, 28 * 28 * 64), 64),  # the processor's own max_pixels
])
def test_visual_tokens(size, vision, tokens):
    assert media.visual_tokens(*size, vision) == tokens


def _project(tmp_path, images, extra="", model_files=None):
    record = {"messages": [{"role": "user", "content": "<image>" * len(images) + "Describe."},
                           {"role": "assistant", "content": "Ok."}], "images": [n for n, _ in images]}
    entry = {"file_name": "d.json", "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
             "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}
    files = {"train.yaml": "model_name_or_path: ./m\nstage: sft\ndo_train: true\ntemplate: qwen2_vl\ndataset: d\n"
                           "output_dir: out\n" + extra,
             "data/dataset_info.json": json.dumps({"d": entry}), "data/d.json": json.dumps([record] * 3),
             **{f"data/{name}": data for name, data in images}, **(model_files or {})}
    write_project(tmp_path, files)
    return check_json("train.yaml", cwd=tmp_path)[1]


def test_thin_or_tiny_images_are_no_error_for_qwen(tmp_path):
    # Qwen2VLPlugin pads a side under 28 px and squeezes an aspect ratio over 200 before smart_resize sees them
    report = _project(tmp_path, [("a.png", media.png(10, 5000)), ("b.png", media.png(3, 3))], "cutoff_len: 4096\n")
    assert not [d for d in report["diagnostics"] if d["code"].startswith("DS51")]


def test_visual_tokens_add_up_over_a_samples_images(tmp_path):
    images = [(f"{i}.png", media.png(768, 768)) for i in range(3)]  # 3 x 729 = 2187 tokens
    report = _project(tmp_path, images, "cutoff_len: 2048\n")
    hits = find(report, "DS512")
    assert len(hits) == 3 and "2,187 visual tokens" in hits[0]["message"]
    assert not find(_project(tmp_path, images, "cutoff_len: 4096\n"), "DS512")


def test_preprocessor_config_of_a_local_model_sets_the_factor(tmp_path):
    model = {"m/config.json": '{"model_type": "qwen2_vl"}',
             "m/preprocessor_config.json": '{"patch_size": 16, "merge_size": 2}'}
    images = [("a.png", media.png(768, 768))]  # factor 32: 24 x 24 = 576 tokens; factor 28 would be 729
    assert find(_project(tmp_path, images, "cutoff_len: 600\n", model), "DS512") == []
    assert find(_project(tmp_path, images, "cutoff_len: 576\n", model), "DS512")


def test_unreadable_image_reported_per_sample_with_its_path(tmp_path):
    report = _project(tmp_path, [("a.png", media.png(64, 64)), ("b.png", b"\x89PNG\r\n\x1a\n")])
    hits = find(report, "DS510")
    assert len(hits) == 3 and all("'b.png'" in h["message"] for h in hits)
    assert {h["sample"] for h in hits} == {0, 1, 2}


def _noise(fmt: str) -> bytes:
    image_module = pytest.importorskip("PIL.Image")
    import random

    rng = random.Random(7)
    image = image_module.frombytes("RGB", (120, 80), bytes(rng.randrange(256) for _ in range(120 * 80 * 3)))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt, cut, error", [
    ("PNG", lambda d: d[:len(d) // 2], True),  # cut inside the image data: PIL raises `image file is truncated`
    ("PNG", lambda d: d[:-12], False),  # no IEND after whole image data: PIL reads it
    ("JPEG", lambda d: d[:len(d) // 2], True),
    ("JPEG", lambda d: d[:-2], True),  # no EOI marker: PIL 13 raises too
    ("JPEG", lambda d: d + b"motion photo" * 1000, False),  # data after the EOI
    ("PNG", lambda d: d, False),
])
def test_an_image_cut_after_its_header_is_unreadable(tmp_path, fmt, cut, error):
    data = cut(_noise(fmt))
    report = _project(tmp_path, [("a.img", data)], "cutoff_len: 4096\n")
    hits = find(report, "DS510")
    assert bool(hits) is error, report["diagnostics"]
    if error:
        assert "cut short after its header" in hits[0]["message"] and "truncated" in hits[0]["message"]


def test_decoding_suspects_is_capped_per_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(media, "DECODE_CAP", 1)
    cut = _noise("PNG")[:1000]
    report = _project(tmp_path, [("a.png", cut), ("b.png", bytes(cut))], "cutoff_len: 4096\n")
    assert {h["message"].split("'")[1] for h in find(report, "DS510")} == {"a.png"}


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(width: int, height: int, frames: int, seconds: float) -> bytes:
    """A header-only MP4: ftyp, then moov/trak with tkhd, mdhd, hdlr (vide) and stsz (no media data)."""
    tkhd = b"\0" * 76 + struct.pack(">II", width << 16, height << 16)
    mdhd = b"\0" * 12 + struct.pack(">II", 1000, int(seconds * 1000)) + b"\0" * 4
    hdlr = b"\0" * 8 + b"vide" + b"\0" * 13
    stsz = b"\0" * 8 + struct.pack(">I", frames)
    stbl = _box(b"stbl", _box(b"stsz", stsz))
    mdia = _box(b"mdia", _box(b"mdhd", mdhd) + _box(b"hdlr", hdlr) + _box(b"minf", stbl))
    moov = _box(b"moov", _box(b"trak", _box(b"tkhd", tkhd) + mdia))
    return _box(b"ftyp", b"isom\0\0\0\0isom") + _box(b"mdat", b"\0" * 32) + moov


def test_mp4_header(tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(mp4(640, 360, 243, 9.72))
    assert media.video_info(str(path)) == (640, 360, 243, 9.72)
    path.write_bytes(mp4(640, 360, 243, 9.72)[:80])  # cut before moov: PyAV fails with `moov atom not found`
    with pytest.raises(media.NotAnImage, match="moov"):
        media.video_info(str(path))
    path.write_bytes(mp4(640, 360, 243, 9.72).replace(b"vide", b"soun"))  # an audio-only MP4
    with pytest.raises(media.NotAnImage, match="no video track"):
        media.video_info(str(path))
    path.write_bytes(b"RIFF\0\0\0\0AVI LIST")  # another container: not measured, not judged
    assert media.video_info(str(path)) is None


_VISION = (28, 589824, 1024, 0, 65536, 256, 2.0, 128)


@pytest.mark.parametrize("frames, seconds, sampled", [(243, 9.72, 20), (300, 100.0, 128), (3, 0.1, 2), (0, 5, 128)])
def test_video_frames_sampled_as_llamafactory_does(frames, seconds, sampled):
    assert media.video_frames(frames, seconds, _VISION) == sampled


def test_video_tokens_count_towards_cutoff(tmp_path):
    record = {"messages": [{"role": "user", "content": "<video>Describe."}, {"role": "assistant", "content": "Ok."}],
              "videos": ["v.mp4"]}
    entry = {"file_name": "d.json", "formatting": "sharegpt", "columns": {"messages": "messages", "videos": "videos"},
             "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}
    files = {"train.yaml": "model_name_or_path: Qwen/Qwen2-VL-2B-Instruct\nstage: sft\ndo_train: true\n"
                           "template: qwen2_vl\ndataset: d\noutput_dir: out\ncutoff_len: 800\n",
             "data/dataset_info.json": json.dumps({"d": entry}), "data/d.json": json.dumps([record]),
             "data/v.mp4": mp4(640, 360, 243, 9.72)}  # 20 frames x 84 tokens / 2 = 840
    write_project(tmp_path, files)
    hits = find(check_json("train.yaml", cwd=tmp_path)[1], "DS512")
    assert len(hits) == 1 and "840 visual tokens" in hits[0]["message"] and "videos" in hits[0]["message"]
    (tmp_path / "train.yaml").write_text(files["train.yaml"].replace("cutoff_len: 800", "cutoff_len: 1024"))
    assert not find(check_json("train.yaml", cwd=tmp_path)[1], "DS512")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def avi(width: int, height: int, frames: int, rate: int = 25) -> bytes:
    """A header-only AVI: hdrl with avih, then an audio strl and a video strl (strh, strf), then an empty movi."""
    avih = struct.pack("<14I", 40000, 0, 0, 0, frames, 0, 2, 0, width, height, 0, 0, 0, 0)
    audio = _chunk(b"LIST", b"strl" + _chunk(b"strh", b"auds" + b"\0" * 52) + _chunk(b"strf", b"\0" * 18))
    strh = b"vids" + b"DIVX" + struct.pack("<IHHIIIII", 0, 0, 0, 0, 1, rate, 0, frames) + b"\0" * 20
    strf = struct.pack("<Iii", 40, width, -height) + b"\0" * 28  # a negative height: a top-down bitmap
    video = _chunk(b"LIST", b"strl" + _chunk(b"strh", strh) + _chunk(b"strf", strf))
    body = b"AVI " + _chunk(b"LIST", b"hdrl" + _chunk(b"avih", avih) + audio + video) + _chunk(b"LIST", b"movi")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _ebml(element: int, payload: bytes, unknown_size: bool = False) -> bytes:
    size = b"\x01" + (b"\xff" * 7 if unknown_size else len(payload).to_bytes(7, "big"))
    return element.to_bytes((element.bit_length() + 7) // 8, "big") + size + payload


def mkv(width: int, height: int, frames: int, fps: int = 25, unknown_size: bool = False) -> bytes:
    """A header-only Matroska file: EBML header, Segment > Info (1 ms ticks, Duration) and Tracks (an audio track,
    then the video track with DefaultDuration and its pixel size), then a Cluster."""
    info = _ebml(0x1549A966, _ebml(0x2AD7B1, (1_000_000).to_bytes(3, "big"))
                 + _ebml(0x4489, struct.pack(">d", frames * 1000 / fps)))
    audio = _ebml(0xAE, _ebml(0x83, b"\x02"))
    video = _ebml(0xAE, _ebml(0x83, b"\x01") + _ebml(0x23E383, (10**9 // fps).to_bytes(4, "big"))
                  + _ebml(0xE0, _ebml(0xB0, width.to_bytes(2, "big")) + _ebml(0xBA, height.to_bytes(2, "big"))))
    segment = info + _ebml(0x1654AE6B, audio + video) + _ebml(0x1F43B675, b"\0" * 16)
    return _ebml(0x1A45DFA3, _ebml(0x4282, b"webm")) + _ebml(0x18538067, segment, unknown_size)


def test_avi_and_matroska_headers(tmp_path):
    # as PyAV reports them: AVI frames and duration from strh; Matroska with no frame count (frames 0), so
    # LLaMA-Factory decodes every frame up to video_maxlen: counted from Duration / DefaultDuration
    path = tmp_path / "v"
    path.write_bytes(avi(640, 360, 243))
    assert media.video_info(str(path)) == (640, 360, 243, 9.72)
    for unknown in (False, True):  # a live recording's Segment has an unknown size
        path.write_bytes(mkv(640, 360, 57, unknown_size=unknown))
        assert media.video_info(str(path)) == (640, 360, 57, None)
    path.write_bytes(mkv(640, 360, 57)[:40])  # cut before its tracks: not measured, nothing claimed
    assert media.video_info(str(path)) is None
    assert media.video_frames(57, None, _VISION) == 58 and media.video_frames(300, None, _VISION) == 128


@pytest.mark.parametrize("name, data, tokens", [("v.avi", avi(640, 360, 243), 840),  # 20 frames, as the MP4
                                                ("v.webm", mkv(640, 360, 57), 2436)])  # 58 frames x 84 / 2
def test_avi_and_webm_video_tokens_count_towards_cutoff(tmp_path, name, data, tokens):
    record = {"messages": [{"role": "user", "content": "<video>Describe."}, {"role": "assistant", "content": "Ok."}],
              "videos": [name]}
    entry = {"file_name": "d.json", "formatting": "sharegpt", "columns": {"messages": "messages", "videos": "videos"},
             "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}
    config = ("model_name_or_path: Qwen/Qwen2-VL-2B-Instruct\nstage: sft\ndo_train: true\ntemplate: qwen2_vl\n"
              "dataset: d\noutput_dir: out\ncutoff_len: {}\n")
    write_project(tmp_path, {"train.yaml": config.format(tokens), "data/dataset_info.json": json.dumps({"d": entry}),
                             "data/d.json": json.dumps([record]), f"data/{name}": data})
    hits = find(check_json("train.yaml", cwd=tmp_path)[1], "DS512")
    assert len(hits) == 1 and f"{tokens:,} visual tokens" in hits[0]["message"], hits
    (tmp_path / "train.yaml").write_text(config.format(tokens + 200))
    assert not find(check_json("train.yaml", cwd=tmp_path)[1], "DS512")


def test_frame_list_videos_keep_every_frame(tmp_path):
    frames = [str(tmp_path / f"f{i}.png") for i in range(5)]
    for frame in frames:
        pathlib.Path(frame).write_bytes(media.png(256, 256))
    checker = media.ImageChecker(type("U", (), {"vision": _VISION, "cutoff_len": 10})())
    # 5 frames padded to 6 -> 3 temporal patches of (252 / 28) ** 2 = 81 tokens
    assert checker.video_tokens([frames]) == 3 * 81


@pytest.mark.parametrize("template, cutoff, hit", [("llava", 576, True), ("llava", 600, False),
                                                   ("gemma3", 256, True), ("paligemma", 100, False)])
def test_fixed_count_families(tmp_path, template, cutoff, hit):
    record = {"messages": [{"role": "user", "content": "<image>Describe."}, {"role": "assistant", "content": "Ok."}],
              "images": ["a.png"]}
    entry = {"file_name": "d.json", "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
             "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}
    write_project(tmp_path, {"train.yaml": f"model_name_or_path: org/m\nstage: sft\ndo_train: true\ntemplate: "
                                           f"{template}\ndataset: d\noutput_dir: out\ncutoff_len: {cutoff}\n",
                             "data/dataset_info.json": json.dumps({"d": entry}), "data/d.json": json.dumps([record]),
                             "data/a.png": media.png(10, 10)})
    assert bool(find(check_json("train.yaml", cwd=tmp_path)[1], "DS512")) is hit


def test_a_local_llava_config_gives_its_own_count(tmp_path):
    vision = {"vision_config": {"image_size": 224, "patch_size": 14}}
    write_project(tmp_path, {"m/config.json": json.dumps(vision)})

    class Config:
        values = {"template": "llava", "model_name_or_path": "m"}

        def resolve(self, path):
            return str(tmp_path / path)

        def get(self, key):
            return {"image_max_pixels": 589824, "image_min_pixels": 1024, "video_max_pixels": 65536,
                    "video_min_pixels": 256, "video_fps": 2.0, "video_maxlen": 128}[key]

    settings = media.vision_settings(Config(), {"plugin": "LlavaPlugin"})
    assert settings[8] == 256 and media.visual_tokens(4000, 3000, settings) == 256


def test_llamafactorys_demo_videos_read_as_pyav_reads_them():
    from conftest import CORPUS, oracle_missing

    demo = CORPUS / "data" / "mllm_demo_data"
    if not demo.is_dir():
        oracle_missing("LLaMA-Factory's data/ (../shared/corpus) is not available")
    # PyAV 16 (LLaMA-Factory's reader): 2.avi is 320x240, stream.frames 270, duration 9.025 s; 1.mp4 640x360, 243
    width, height, frames, seconds = media.video_info(str(demo / "2.avi"))
    assert (width, height, frames) == (320, 240, 270) and seconds == pytest.approx(9.025069637883009)
    assert media.video_info(str(demo / "1.mp4")) == (640, 360, 243, 9.72)
