"""Multimodal sample rules: placeholder counts per stage, media paths as LLaMA-Factory resolves them."""

import os

from lfgate.validator.media import png
from sample_check import codes, run, severities

TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
MM = {"formatting": "sharegpt", "columns": {"messages": "messages", "images": "images", "videos": "videos"},
      "tags": TAGS}
RANK = {"formatting": "sharegpt", "ranking": True, "tags": TAGS,
        "columns": {"messages": "messages", "images": "images", "chosen": "chosen", "rejected": "rejected"}}


def rec(text, images=None, videos=None, answer="A cat."):
    return {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": answer}],
            "images": images, "videos": videos}


def project(tmp_path):
    for name in ("a.png", "b.png", "f1.jpg", "f2.jpg"):
        (tmp_path / name).write_bytes(png(8, 8))  # an identifiable image header (DS510)
    return str(tmp_path)


def test_matching_counts_and_existing_files_pass(tmp_path):
    d = project(tmp_path)
    records = [rec("<image><image>Compare", ["a.png", "b.png"]), rec("<image>What?", "a.png"),
               rec("<video>What?", videos=[["f1.jpg", "f2.jpg"]]), rec("<image>", [os.path.join(d, "b.png")])]
    findings, checker = run(MM, records, dataset_dir=d)
    assert findings == []
    facts = checker.facts()
    assert facts.media == {"images": 4, "videos": 1, "audios": 0} and facts.samples_with_media == 4
    assert facts.placeholders["image"] == 4 and facts.has_media


def test_placeholder_count_mismatch(tmp_path):
    d = project(tmp_path)
    found = codes(MM, [rec("<image>What?", ["a.png"]), rec("<image><image>What?", ["a.png"]),
                       rec("What?", ["a.png"]), rec("What? <image>", ["a.png"], answer="<image>")], dataset_dir=d)
    assert found == [("DS501", 1, ("images",)), ("DS501", 2, ("images",)), ("DS501", 3, ("images",))]


def test_placeholders_in_the_system_prompt_do_not_count(tmp_path):
    d = project(tmp_path)
    entry = {**MM, "tags": {**TAGS, "system_tag": "system"}}
    record = {"messages": [{"role": "system", "content": "<image>"}, {"role": "user", "content": "<image>Hi"},
                           {"role": "assistant", "content": "A cat."}], "images": ["a.png"], "videos": None}
    assert codes(entry, [record], dataset_dir=d) == []


def test_ranking_counts_prompt_plus_each_answer(tmp_path):
    d = project(tmp_path)
    def r(chosen, rejected, text="<image>Which?"):
        return {"messages": [{"role": "user", "content": text}], "images": ["a.png"],
                "chosen": {"role": "assistant", "content": chosen},
                "rejected": {"role": "assistant", "content": rejected}}
    assert codes(RANK, [r("good", "bad"), r("<image>", "<image>", text="Which?")], dataset_dir=d) == []
    assert codes(RANK, [r("good", "bad"), r("<image>", "bad", text="Which?")], dataset_dir=d) == \
        [("DS501", 1, ("images",))]


def test_missing_media_file(tmp_path):
    d = project(tmp_path)
    found = codes(MM, [rec("<image>What?", ["a.png"]), rec("<image><image>", ["a.png", "nope.png"]),
                       rec("<video>", videos=[["f1.jpg", "gone.jpg"]])], dataset_dir=d)
    assert found == [("DS502", 1, ("images", 1)), ("DS502", 2, ("videos", 0, 1))]


def test_media_dir_overrides_dataset_dir(tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.png").write_bytes(png(8, 8))
    data = tmp_path / "data"
    data.mkdir()
    record = rec("<image>What?", ["a.png"])
    assert codes(MM, [record], dataset_dir=str(data)) == [("DS502", 0, ("images", 0))]
    assert codes(MM, [record], dataset_dir=str(data), media_dir=str(media)) == []


def test_url_media_are_reported_as_such(tmp_path):
    findings, _ = run(MM, [rec("<image>", ["https://example.com/a.png"])], dataset_dir=project(tmp_path))
    assert findings[0].rule.code == "DS502" and "URL" in findings[0].message


def test_placeholders_without_media_column_warn_once(tmp_path):
    found = codes({}, [{"instruction": "<image>What?", "input": "", "output": "A cat."}] * 3)
    assert found == [("DS503", 0, ("instruction",))]
    assert severities({}, [{"instruction": "<image>What?", "input": "", "output": "x"}]) == {"DS503": "warning"}


def test_dropped_samples_are_not_checked_for_media(tmp_path):
    d = project(tmp_path)
    broken = {"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}],
              "images": ["nope.png"]}
    found = codes(MM, [rec("<image>", ["a.png"]), broken], dataset_dir=d)
    assert found == [("DS202", 1, ("messages", 0, "role"))]


def test_custom_placeholder_from_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGE_PLACEHOLDER", "<img>")
    d = project(tmp_path)
    assert codes(MM, [rec("<img>What?", ["a.png"])], dataset_dir=d) == []
    assert codes(MM, [rec("<image>What?", ["a.png"])], dataset_dir=d) == [("DS501", 0, ("images",))]
