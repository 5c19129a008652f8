"""Build a project shaped like the seed article's: Chinese knowledge-graph extraction from number-heavy reports.

    python scripts/seed_like_dataset.py OUT_DIR [--samples 286] [--seed 0]

Each sample is an alpaca record: a long Chinese extraction instruction (the same for all), a report full of
figures (`98000万吨`, `12.5%`, dates, codes) as the input, and a YAML knowledge graph as the output. OUT_DIR gets
data/dataset_info.json, data/reports.json and train.yaml (`model_name_or_path: Qwen/Qwen2.5-14B-Instruct`,
`cutoff_len: 2048`, `template: qwen`). Deterministic for a seed. The accuracy tests and the token-count
benchmark build their data with it; nothing here is real.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from typing import List

INSTRUCTION = (
    "你是一名资深的行业分析师和知识图谱构建专家。请仔细阅读下面给出的行业报告文本，从中抽取结构化的知识，"
    "并按照规定的格式输出一个知识图谱。抽取时请遵守以下要求：\n"
    "1. 实体类型包括：企业、机构、地区、产品、指标、时间、政策、项目、人物。每个实体必须给出名称、类型和简短描述，"
    "描述中应尽量保留原文中的数值、单位和时间信息，不得自行编造原文没有的内容。\n"
    "2. 关系类型包括：生产、销售、投资、位于、隶属、发布、同比增长、同比下降、占比、合作、竞争、供应。"
    "每条关系必须给出头实体、关系类型、尾实体，以及支持该关系的原文证据句。\n"
    "3. 所有数值必须与原文完全一致，包括小数点、百分号和单位，例如“98000万吨”“12.5%”“3.2亿元”。"
    "如果同一指标在文中出现多次，请分别抽取并注明对应的时间或口径。\n"
    "4. 对于同比、环比等变化类信息，请同时记录变化的方向、幅度和基期，避免遗漏。\n"
    "5. 输出必须是合法的 YAML，顶层包含 entities 和 relations 两个键，不要输出任何解释性文字，"
    "也不要使用代码块标记。字段名使用英文，字段值保留中文原文。\n"
    "6. 如果报告中存在表格形式的数据，请逐行转换为实体和关系，不要合并或省略任何一行。\n"
    "7. 遇到含义不明确的缩写或简称时，以原文中首次出现的全称为准；无法确定的，保留原文写法。\n"
    "请严格按照上述要求完成抽取任务。"
)

_COMPANIES = ["华能集团", "中国石化", "宝武钢铁", "海螺水泥", "宁德时代", "隆基绿能", "中远海运", "国家电网",
              "紫金矿业",
              "万华化学", "比亚迪", "三一重工", "中国神华", "长江电力", "潍柴动力", "中国中车"]
_REGIONS = ["华东地区", "华北地区", "西南地区", "长三角", "珠三角", "京津冀", "山东省", "江苏省", "广东省", "内蒙古",
            "四川省", "湖北省"]
_PRODUCTS = ["原煤", "粗钢", "水泥熟料", "锂电池", "光伏组件", "集装箱吞吐量", "发电量", "铜精矿", "聚氨酯",
             "新能源汽车",
             "挖掘机", "天然气"]
_UNITS = ["万吨", "亿元", "万千瓦时", "万标箱", "GWh", "万辆", "亿立方米", "万台", "吨", "千瓦"]
_VERBS = ["实现", "完成", "达到", "累计完成", "全年实现"]
_TREND = ["同比增长", "同比下降", "环比增长", "环比下降", "较上年提高", "较上年减少"]
_POLICY = ["《关于推动能源绿色低碳转型的实施意见》", "《工业领域碳达峰实施方案》", "《新型储能发展规划》",
           "《关于加快建设全国统一大市场的意见》"]


def _num(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.4:
        return str(rng.randint(100, 99999))
    if kind < 0.8:
        return f"{rng.uniform(1, 999):.{rng.choice((1, 2))}f}"
    return f"{rng.randint(1, 9)},{rng.randint(100, 999)},{rng.randint(100, 999)}"


def _sentence(rng: random.Random, year: int) -> str:
    company, region, product, unit = (rng.choice(_COMPANIES), rng.choice(_REGIONS), rng.choice(_PRODUCTS),
                                      rng.choice(_UNITS))
    forms = [
        f"{year}年，{company}在{region}{rng.choice(_VERBS)}{product}产量{_num(rng)}{unit}，"
        f"{rng.choice(_TREND)}{_num(rng)}%，占全国总量的{rng.uniform(1, 60):.1f}%。",
        f"截至{year}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日，{company}累计投资{_num(rng)}亿元，"
        f"建设{product}项目{rng.randint(2, 40)}个，其中{region}项目{rng.randint(1, 15)}个。",
        f"根据{rng.choice(_POLICY)}，{region}{year}年{product}目标为{_num(rng)}{unit}，"
        f"{year + 1}年进一步提高至{_num(rng)}{unit}。",
        f"{company}第{rng.randint(1, 4)}季度营业收入{_num(rng)}亿元，净利润{_num(rng)}亿元，"
        f"毛利率{rng.uniform(5, 45):.2f}%，"
        f"{rng.choice(_TREND)}{rng.uniform(0.1, 30):.1f}个百分点。",
        f"{region}{product}价格为{_num(rng)}元/{unit[-1]}，较{year - 1}年同期{rng.choice(_TREND)}{_num(rng)}%，"
        f"库存水平约{_num(rng)}{unit}（编号GB/T {rng.randint(1000, 40000)}-{year}）。",
    ]
    return rng.choice(forms)


def _report(rng: random.Random, sentences: int) -> str:
    year = rng.randint(2015, 2024)
    paragraphs, current = [], []
    for _ in range(sentences):
        current.append(_sentence(rng, year))
        if len(current) >= rng.randint(3, 6):
            paragraphs.append("".join(current))
            current = []
    if current:
        paragraphs.append("".join(current))
    return f"{year}年度行业运行报告（第{rng.randint(1, 30)}期）\n" + "\n".join(paragraphs)


def _graph(rng: random.Random, report: str, items: int) -> str:
    lines = ["entities:"]
    names = []
    for _ in range(items):
        name = rng.choice(_COMPANIES + _PRODUCTS + _REGIONS)
        names.append(name)
        lines += [f"  - name: {name}", f"    type: {rng.choice(['企业', '产品', '地区', '指标'])}",
                  f"    description: {_sentence(rng, rng.randint(2015, 2024))}"]
    lines.append("relations:")
    for _ in range(max(1, items - 1)):
        head, tail = rng.choice(names), rng.choice(names)
        relation = rng.choice(['生产', '投资', '位于', '同比增长', '占比', '供应'])
        lines += [f"  - head: {head}", f"    relation: {relation}",
                  f"    tail: {tail}", f"    evidence: \"{_num(rng)}{rng.choice(_UNITS)}，{rng.choice(_TREND)}"
                                        f"{_num(rng)}%\""]
    return "\n".join(lines)


def records(samples: int = 286, seed: int = 0) -> List[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(samples):
        size = rng.choice((10, 14, 18, 22, 26, 30, 36))
        report = _report(rng, size)
        out.append({"instruction": INSTRUCTION, "input": report, "output": _graph(rng, report, rng.randint(3, 9))})
    return out


CONFIG = """\
### model
model_name_or_path: Qwen/Qwen2.5-14B-Instruct
### method
stage: sft
do_train: true
finetuning_type: lora
lora_target: all
### dataset
dataset: reports
template: qwen
cutoff_len: 2048
### output
output_dir: saves/qwen2.5-14b/lora/sft
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
num_train_epochs: 3.0
"""


def build(folder: str, samples: int = 286, seed: int = 0) -> str:
    """Write the project into folder; returns the path of train.yaml."""
    os.makedirs(os.path.join(folder, "data"), exist_ok=True)
    with open(os.path.join(folder, "data", "reports.json"), "w", encoding="utf-8") as f:
        json.dump(records(samples, seed), f, ensure_ascii=False, indent=1)
    with open(os.path.join(folder, "data", "dataset_info.json"), "w", encoding="utf-8") as f:
        json.dump({"reports": {"file_name": "reports.json"}}, f, ensure_ascii=False, indent=2)
    config = os.path.join(folder, "train.yaml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(CONFIG)
    return config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--samples", type=int, default=286)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build(args.out_dir, args.samples, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
