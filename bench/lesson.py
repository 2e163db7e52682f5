"""Lesson engine throughput: validate + extract over a corpus of generated lessons.

The corpus (``CORPUS_SIZE`` lessons, fixed seed) varies the six sample lessons: other students,
extra prose paragraphs, repeated study-text passages and practice items, and trimmed sections
(so some lessons are invalid, as in real batches). Each lesson is validated and extracted once
(``validate_text`` + ``extract_lesson``, as the pipeline's validate stage and TTS stage do).

Baseline, measured in the same run over the same corpus: ``parse_document`` alone (fence and
YAML front matter), the part of the work every consumer of a lesson has to do anyway. One 1 MB
lesson made of corpus bodies checks that cost grows linearly with size (its MB/s against the
corpus MB/s, ratio near 1), and a 10 MB file checks that oversized input is refused at once.

Run alone with ``python -m bench.lesson``.
"""

import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.__main__ import print_table
from bench.common import BenchRow
from esl_dagster.pipeline.lesson.document import parse_document
from esl_dagster.pipeline.lesson.extractor import extract_lesson
from esl_dagster.pipeline.lesson.validator import validate_file, validate_text

LESSONS_DIR = Path(__file__).resolve().parent.parent / "examples" / "lessons"
CORPUS_SIZE = 2000
CHUNK = 100
SEED = 20251122
STUDENTS = ("Ines", "Marek", "Анна", "Joaquín", "Li Wei", "Fatima", "Ólafur", "Sam")
FILLER = (
    "Small talk feels easier when the phrases come out automatically, so we repeat them in "
    "different situations until they sound natural."
)


def generate_corpus(size: int = CORPUS_SIZE, seed: int = SEED) -> list[str]:
    """``size`` lesson texts derived from the sample lessons (deterministic for a seed)."""
    rng = random.Random(seed)
    samples = [p.read_text(encoding="utf-8") for p in sorted(LESSONS_DIR.glob("*.md"))]
    return [_vary(samples[index % len(samples)], rng) for index in range(size)]


def _vary(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    out: list[str] = []
    in_study = False
    for source in lines:
        line = f"student: {rng.choice(STUDENTS)}" if source.startswith("student:") else source
        out.append(line)
        if line.lower().startswith(":::study-text"):
            in_study = True
        elif in_study and line.strip() == ":::":
            in_study = False
        elif in_study and line.strip() and rng.random() < 0.3:
            out.insert(len(out) - 1, line)  # repeat a passage or a dialogue turn
        if line.startswith("## 7."):
            out.extend(FILLER for _ in range(rng.randint(0, 30)))
    if rng.random() < 0.1:
        # Drop a random section heading: an invalid lesson (HC1), as real batches contain some.
        headings = [i for i, line in enumerate(out) if line.startswith("## ")]
        del out[rng.choice(headings)]
    return "\n".join(out)


def big_lesson(corpus: list[str], target_bytes: int) -> str:
    """One lesson of about ``target_bytes``: the bodies of corpus lessons inside one fence.

    It is invalid (many H2s) but holds the same mix of blocks as the corpus, so its MB/s is
    comparable with the corpus figure.
    """
    first = parse_document(corpus[0])
    bodies: list[str] = []
    size = 0
    for text in corpus:
        if size >= target_bytes:
            break
        body = parse_document(text).body
        bodies.append(body)
        size += len(body.encode())
    return f"```markdown\n---\n{first.front_matter_raw}\n---\n" + "\n".join(bodies) + "\n```\n"


def _timed(fn: Callable[[str], object], texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        fn(text)
    return time.perf_counter() - start


def _validate_and_extract(text: str) -> None:
    validate_text(text)
    extract_lesson(text)


def run() -> list[BenchRow]:
    corpus = generate_corpus()
    megabytes = sum(len(text.encode()) for text in corpus) / 1e6
    _timed(_validate_and_extract, corpus[:20])  # warm caches and imports
    # Alternate engine and baseline chunk by chunk so load from other processes hits both alike.
    engine = baseline = 0.0
    for offset in range(0, len(corpus), CHUNK):
        chunk = corpus[offset : offset + CHUNK]
        baseline += _timed(parse_document, chunk)
        engine += _timed(_validate_and_extract, chunk)
    engine_rate, base_rate = len(corpus) / engine, len(corpus) / baseline
    engine_mbs, base_mbs = megabytes / engine, megabytes / baseline

    large = big_lesson(corpus, 1_000_000)
    large_mb = len(large.encode()) / 1e6
    large_mbs = large_mb / _timed(_validate_and_extract, [large])

    with tempfile.TemporaryDirectory() as folder:
        huge = Path(folder) / "huge.md"
        huge.write_bytes(large.encode() * 10)
        started = time.perf_counter()
        validate_file(huge)
        reject_ms = (time.perf_counter() - started) * 1000

    label = f"validate+extract ({len(corpus)} lessons, {megabytes:.1f} MB)"
    return [
        BenchRow(
            f"{label}: lessons/s vs parse_document",
            engine_rate,
            "lessons/s",
            baseline=base_rate,
            ratio=engine_rate / base_rate,
            target=">= 50 lessons/s",
        ),
        BenchRow(
            f"{label}: MB/s vs parse_document",
            engine_mbs,
            "MB/s",
            baseline=base_mbs,
            ratio=engine_mbs / base_mbs,
        ),
        BenchRow(
            f"validate+extract one {large_mb:.1f} MB lesson: MB/s vs corpus MB/s",
            large_mbs,
            "MB/s",
            baseline=engine_mbs,
            ratio=large_mbs / engine_mbs,
            target="ratio ~1 (linear in size)",
        ),
        BenchRow("validate_file on a 10 MB file (refused)", reject_ms, "ms", target="< 100 ms"),
    ]


if __name__ == "__main__":
    print_table([("lesson", row) for row in run()])
