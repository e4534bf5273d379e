"""Rebuild the bundled subset in this folder from the full samples in ``../shared/data`` (maintainers only).

    python examples/data/make_subset.py --shared ../shared/data

Copies raw source files (never converted rows) plus each dataset's LICENSE, and writes ``swift/paper_format.jsonl``,
a small file in the paper's ms-swift format built from the copied MATH-V, word-crop and ICDAR records.
Deterministic: the same sources give byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: MATH-V testmini ids kept: rows whose format is unusual (multi-panel composites, options that are image tags,
#: a repeated tag, letter-only options, options drawn only in the image, decimal / negative answers), then the
#: smallest images of each kind so the whole folder stays small.
MATHV_ODD = ["4", "6", "33", "34", "59", "79", "203", "222", "250", "292", "473", "654", "923", "2659", "2673"]
MATHV_N_CHOICE, MATHV_N_MATH = 12, 13


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def mathv(shared: Path) -> list[dict]:
    src = shared / "mathv_testmini"
    records = [json.loads(line) for line in (src / "testmini.jsonl").read_text(encoding="utf-8").splitlines() if line]
    size = {r["id"]: (src / r["image"]).stat().st_size for r in records}
    rest = [r for r in records if r["id"] not in MATHV_ODD]
    choice = sorted((r for r in rest if r["options"]), key=lambda r: (size[r["id"]], int(r["id"])))[:MATHV_N_CHOICE]
    math = sorted((r for r in rest if not r["options"]), key=lambda r: (size[r["id"]], int(r["id"])))[:MATHV_N_MATH]
    keep = set(MATHV_ODD) | {r["id"] for r in choice + math}
    kept = [r for r in records if r["id"] in keep]  # source order
    dst = HERE / "mathv_testmini"
    if dst.exists():
        shutil.rmtree(dst)
    for r in kept:
        _copy(src / r["image"], dst / r["image"])
    lines = [json.dumps(r, ensure_ascii=False) for r in kept]
    (dst / "testmini.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _copy(src / "LICENSE", dst / "LICENSE")
    return kept


def geo3k(shared: Path) -> None:
    src, dst = shared / "geo3k_examples", HERE / "geo3k"
    if dst.exists():
        shutil.rmtree(dst)
    for d in sorted(p for p in src.iterdir() if p.is_dir()):
        for name in ("data.json", "img_diagram.png"):
            _copy(d / name, dst / d.name / name)
    _copy(src / "LICENSE", dst / "LICENSE")


def mmocr(shared: Path) -> None:
    src, dst = shared / "ocr_mmocr", HERE / "mmocr"
    for sub in ("rec_words", "icdar2015_toy"):
        if (dst / sub).exists():
            shutil.rmtree(dst / sub)
        shutil.copytree(src / sub, dst / sub, copy_function=shutil.copyfile)
    _copy(src / "LICENSE", dst / "LICENSE")


def swift(kept_mathv: list[dict]) -> None:
    """A paper-format jsonl exercising what the swift converter handles (paths relative to this file)."""
    by_id = {r["id"]: r for r in kept_mathv}
    out: list[dict] = []

    def mv(sid: str, **extra) -> dict:
        r = by_id[sid]
        question = r["question"]
        if question.count("<image1>") == 1 and "<image2>" not in question:
            question = question.replace("<image1>", "<image>")
        else:
            question = "<image>\n" + question
        if r["options"]:
            question += "\n" + "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(r["options"]))
        return {
            "id": f"mathv-{sid}",
            "images": [f"../mathv_testmini/{r['image']}"],
            "messages": [{"role": "user", "content": question}],
            "solution": f"<answer>{r['answer']}</answer>",
            **extra,
        }

    out.append(mv("4"))  # "How many ..." + integer -> counting (auto)
    out.append(mv("250"))  # decimal -> math
    out.append(mv("222"))  # option lines + letter -> choice
    rec = mv("203")
    rec["messages"].append({"role": "assistant", "content": "<think>Read the graph.</think><answer>-2</answer>"})
    out.append(rec)  # SFT target dropped from the prompt, kept in meta
    rec = mv("654")
    rec["messages"].insert(0, {"role": "system", "content": "Answer with a single letter."})
    out.append(rec)  # the record's own system message is kept
    rec = mv("923")
    rec["messages"][0]["content"] = rec["messages"][0]["content"].replace("<image>\n", "", 1)
    out.append(rec)  # no placeholder: one is added for the image
    for img, text in (("1223731.jpg", "GRAND"), ("1058891.jpg", "Virgin")):
        out.append(
            {
                "id": f"word-{Path(img).stem}",
                "images": [f"../mmocr/rec_words/imgs/{img}"],
                "messages": [{"role": "user", "content": "<image>What is the text in the image?"}],
                "solution": text,
                "task": "ocr",
            }
        )
    out.append(
        {
            "id": "icdar-img_3-fusionopolis",
            "images": ["../mmocr/icdar2015_toy/imgs/img_3.jpg"],
            "messages": [{"role": "user", "content": "<image>Where is the text 'fusionopolis'? Give every box."}],
            "solution": "<answer>[[58, 71, 194, 123], [221, 72, 312, 118]]</answer>",
        }
    )
    out.append(
        {
            "id": "icdar-img_2-exit",
            "images": ["../mmocr/icdar2015_toy/imgs/img_2.jpg"],
            "messages": [{"role": "user", "content": "<image>Locate the text 'EXIT' with a bounding box."}],
            "solution": [{"bbox_2d": [602, 173, 635, 197], "label": "EXIT"}],
        }
    )
    dst = HERE / "swift" / "paper_format.jsonl"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=HERE.parents[1].parent / "shared" / "data")
    shared = ap.parse_args().shared
    kept = mathv(shared)
    geo3k(shared)
    mmocr(shared)
    swift(kept)
    print(f"bundled subset rebuilt in {HERE} ({len(kept)} MATH-V rows)")


if __name__ == "__main__":
    main()
