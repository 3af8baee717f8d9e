"""Derive the bundled HANNA demo table (auditor/data/hanna/stories.csv) from the upstream release.

Upstream (MIT, dig-team/hanna-benchmark-asg @ 282f275): ``hanna_metric_scores_llm.csv`` has one row per story
generation system and a JSON list of 96 values (one per WritingPrompts prompt) in every cell. This writes one row
per story: ``story_id`` (row index x 96 + prompt, the authors' global id), ``system``, ``prompt``, the three
individual human ratings of each criterion (``human1_RE`` ...) and five LLM judges' ratings with Eval-Prompt 1
(``Beluga-13B_RE`` ...; each the mean of 3 sampled answers, as released). Nothing is recomputed or rounded.

    python examples/derive_hanna_demo.py ../shared/data/hanna auditor/data/hanna
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

CRITERIA = ["RE", "CH", "EM", "SU", "EG", "CX"]
JUDGES = ["Beluga-13B", "OrcaPlatypus", "Mistral-7B", "Llama-13B", "ChatGPT"]
PROMPT = 1


def derive(src: Path, dst: Path) -> int:
    csv.field_size_limit(1 << 26)
    with open(src / "hanna_metric_scores_llm.csv", newline="", encoding="utf-8") as f:
        systems = list(csv.DictReader(f))
    header = ["story_id", "system", "prompt"] + [f"human{k}_{c}" for c in CRITERIA for k in (1, 2, 3)] + [
        f"{j}_{c}" for j in JUDGES for c in CRITERIA]
    rows = []
    for s_idx, row in enumerate(systems):
        cells = {h: json.loads(row[f"Human {k} {c}"]) for k in (1, 2, 3) for c in CRITERIA
                 for h in [f"human{k}_{c}"]}
        cells |= {f"{j}_{c}": json.loads(row[f"{j} {c} {PROMPT}"]) for j in JUDGES for c in CRITERIA}
        for i in range(96):
            rows.append([s_idx * 96 + i, row["Model"], i] + [repr(cells[h][i]) if isinstance(cells[h][i], float)
                                                              else cells[h][i] for h in header[3:]])
    dst.mkdir(parents=True, exist_ok=True)
    with open(dst / "stories.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    shutil.copyfile(src / "user_study.csv", dst / "user_study.csv")
    shutil.copyfile(src / "LICENSE.upstream", dst / "LICENSE")
    return len(rows)


if __name__ == "__main__":
    print(derive(Path(sys.argv[1]), Path(sys.argv[2])), "stories")
