"""The original TypeScript implementation, timed in ``node`` for the rows that compare with it.

The caller names a CommonJS file built from the original's sources (nothing of the original is
part of this repository) and one of its exported functions; every text goes through the function
in a warm process (two passes first), and the best of ``passes`` timed passes is returned in
process CPU seconds (CPU time, so other load on the machine counts less than in wall time). A
function that returns a promise is awaited. When the file also exports ``clearCache``, it is
called before every pass: the original's front-matter parser (gray-matter) remembers each text it
parsed, and a timed pass over texts it has seen before would measure that memory.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import BenchRow

_NODE_TIMER = """
const mod = require(process.argv[1]);
const fn = mod[process.argv[2]];
const reset = typeof mod.clearCache === "function" ? mod.clearCache : () => {};
const texts = JSON.parse(require("fs").readFileSync(process.argv[3], "utf8"));
async function pass() {
  for (const text of texts) {
    const result = fn(text);
    if (result && typeof result.then === "function") await result;
  }
}
(async () => {
  for (let i = 0; i < 2; i++) { reset(); await pass(); }
  let best = Infinity;
  for (let i = 0; i < Number(process.argv[4]); i++) {
    reset();
    const start = process.cpuUsage();
    await pass();
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / 1e6);
  }
  console.log(best);
})();
"""


def original_file(variable: str, what: str) -> Path | None:
    """The compiled original named by the environment ``variable``, when it and ``node`` are
    there; else None, after saying how to enable the row."""
    named = os.environ.get(variable)
    if not named or shutil.which("node") is None:
        print(f"(set {variable} to the original's {what} to compare with it; needs node)")
        return None
    return Path(named).resolve()


def original_cpu_seconds(module: Path, function: str, texts: list[str], passes: int) -> float:
    """Best CPU seconds of one pass of ``module.function`` over ``texts`` in node."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on the PATH")
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "texts.json"
        corpus.write_text(json.dumps(texts), encoding="utf-8")
        command = [node, "-e", _NODE_TIMER, str(module), function, str(corpus), str(passes)]
        answer = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(answer.stdout.strip())


def best_cpu_seconds(fn: Callable[[Any], object], items: list[Any], passes: int) -> float:
    """Ours, timed like the original: the best process CPU seconds of one pass over ``items``."""
    best = float("inf")
    for _ in range(passes):
        start = time.process_time()
        for item in items:
            fn(item)
        best = min(best, time.process_time() - start)
    return best


def rate_row(label: str, count: int, seconds: float, original: float, target: str) -> BenchRow:
    """``count`` items per CPU-second in ``seconds``, beside the original's ``original``."""
    return BenchRow(
        label,
        count / seconds,
        "lessons/s",
        baseline=count / original,
        ratio=original / seconds,
        target=target,
    )
