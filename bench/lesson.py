"""Lesson engine throughput: validate + extract over a corpus of generated lessons.

The corpus (``CORPUS_SIZE`` lessons, fixed seed) varies the six sample lessons: other students,
extra prose paragraphs, repeated study-text passages and practice items, and trimmed sections
(so some lessons are invalid, as in real batches). Each lesson is validated and extracted once
(``validate_text`` + ``extract_lesson``, as the pipeline's validate stage and TTS stage do).

Baseline, measured in the same run over the same corpus: ``parse_document`` alone (fence and
YAML front matter), the part of the work every consumer of a lesson has to do anyway. The largest
lesson the reader accepts (``MAX_LINES`` lines of corpus bodies) checks that cost grows linearly
with size (its MB/s against the corpus MB/s, ratio near 1), and a 10 MB file checks that
oversized input is refused at once.

Pathological inputs of 5 MiB (just under the size limit): each is validated once and compared
with plain prose of the same size and line count, target 2 s. Some are refused by the shape limits
(too many lines, a line too long: the time is the refusal's), the others have the largest
accepted shape (``MAX_LINES`` lines of ~2,600 characters) filled with brackets, backticks,
emphasis markers, headings and nested lists.

Against the original: set ``ESL_BENCH_ORIGINAL_VALIDATOR`` to one CommonJS file bundling the
original's ``md-validator`` and ``md-extractor`` (with their npm dependencies) that exports
``validateAndExtract(text)`` (``validateMarkdownFile`` with ``{content: text}``, then each
extractor, an extractor's refusal of an invalid lesson ignored as ours is) and ``clearCache()``
(gray-matter's); with ``node`` on the PATH both take the same ``ORIGINAL_CORPUS_SIZE`` lessons in a
warm process, compared in CPU seconds per pass (``bench/original.py``).

Run alone with ``python -m bench.lesson``.
"""

import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.__main__ import print_table
from bench.common import BenchRow
from bench.original import best_cpu_seconds, original_cpu_seconds, original_file, rate_row
from esl_dagster.pipeline.lesson.document import parse_document
from esl_dagster.pipeline.lesson.extractor import extract_lesson
from esl_dagster.pipeline.lesson.reader import MAX_LINES
from esl_dagster.pipeline.lesson.validator import validate_file, validate_text

LESSONS_DIR = Path(__file__).resolve().parent.parent / "examples" / "lessons"
CORPUS_SIZE = 2000
ORIGINAL_CORPUS_SIZE = 500
ORIGINAL_ENV = "ESL_BENCH_ORIGINAL_VALIDATOR"
PASSES = 5
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


def big_lesson(corpus: list[str], max_lines: int = MAX_LINES) -> str:
    """The largest lesson the reader accepts: corpus bodies inside one fence, < ``max_lines``.

    It is invalid (many H2s) but holds the same mix of blocks as the corpus, so its MB/s is
    comparable with the corpus figure.
    """
    first = parse_document(corpus[0])
    head = f"```markdown\n---\n{first.front_matter_raw}\n---\n"
    lines = head.count("\n") + 2
    bodies: list[str] = []
    for text in corpus:
        body = parse_document(text).body
        if lines + body.count("\n") + 1 > max_lines:
            break
        bodies.append(body)
        lines += body.count("\n") + 1
    return head + "\n".join(bodies) + "\n```\n"


FIVE_MIB = 5 * 1024 * 1024 - 1024
PATHO_HEAD = (
    "```markdown\n---\ntitle: t\nstudent: s\nlevel: A1\ntopic: x\ninput_type: generate\n---\n"
)
PROSE = "Small talk feels easier when the phrases come out automatically. "

# name -> (line prefix, repeated unit, lines); lines=None: one line filling the size, 0: as many
# lines of the unit as fit (refused by the line limit); else that many lines of equal length.
PATHOLOGICAL: dict[str, tuple[str, str, int | None]] = {
    "one heading of [ (refused)": ("## ", "[", None),
    "lines of '- a' (refused)": ("", "- a", 0),
    "lines of '## x' (refused)": ("", "## x", 0),
    "H2 lines of [": ("## ", "[", MAX_LINES - 20),
    "H3 lines of [": ("### ", "[", MAX_LINES - 20),
    "H3 practice lines of *a": ("### A. Controlled Practice ", "*a", MAX_LINES - 20),
    "H3 lines of `a": ("### ", "`a", MAX_LINES - 20),
    "H3 lines of <a": ("### ", "<a", MAX_LINES - 20),
    "paragraphs of [[]]": ("", "[[]]", MAX_LINES - 20),
    "nested lists / thematic breaks": ("", "- ", MAX_LINES - 20),
    "setext underlines": ("", "-", MAX_LINES - 20),
    "nested quotes": ("", "> ", MAX_LINES - 20),
    "item lines of *_[`": ("1) ", "*_[`", MAX_LINES - 20),
}


def pathological_text(prefix: str, unit: str, lines: int | None, size: int = FIVE_MIB) -> str:
    """A lesson of ``size`` characters shaped as ``PATHOLOGICAL`` describes."""
    room = size - len(PATHO_HEAD) - 8
    if lines is None:
        body = prefix + unit * ((room - len(prefix)) // len(unit))
    elif lines == 0:
        body = "\n".join([prefix + unit] * (room // (len(prefix + unit) + 1)))
    else:
        width = room // lines - 1
        line = (prefix + unit * (width // len(unit) + 1))[:width]
        body = "\n".join([line] * lines)
    return PATHO_HEAD + body + "\n```\n"


def _pathological_rows() -> list[BenchRow]:
    rows = []
    for name, (prefix, unit, lines) in PATHOLOGICAL.items():
        text = pathological_text(prefix, unit, lines)
        plain = pathological_text("", PROSE, lines if lines else None)
        if lines == 0:
            plain = pathological_text("", PROSE, text.count("\n") - 10)
        seconds = _timed(validate_text, [text])
        baseline = _timed(validate_text, [plain])
        rows.append(
            BenchRow(
                f"validate 5 MiB, {name}: s vs plain prose of the same size and lines",
                seconds,
                "s",
                baseline=baseline,
                ratio=seconds / baseline,
                target="<= 2 s",
            )
        )
    return rows


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

    large = big_lesson(corpus)
    large_mb = len(large.encode()) / 1e6
    large_mbs = large_mb / _timed(_validate_and_extract, [large])

    with tempfile.TemporaryDirectory() as folder:
        huge = Path(folder) / "huge.md"
        huge.write_bytes(large.encode() * (10_000_000 // len(large) + 1))
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
            f"validate+extract the largest accepted lesson ({MAX_LINES:,} lines, "
            f"{large_mb:.2f} MB): MB/s vs corpus MB/s",
            large_mbs,
            "MB/s",
            baseline=engine_mbs,
            ratio=large_mbs / engine_mbs,
            target="ratio ~1 (linear in size)",
        ),
        BenchRow("validate_file on a 10 MB file (refused)", reject_ms, "ms", target="< 100 ms"),
        *_original_rows(corpus[:ORIGINAL_CORPUS_SIZE]),
        *_pathological_rows(),
    ]


def _original_rows(corpus: list[str]) -> list[BenchRow]:
    bundle = original_file(ORIGINAL_ENV, "validator and extractor bundle")
    if bundle is None:
        return []
    original = original_cpu_seconds(bundle, "validateAndExtract", corpus, PASSES)
    ours = best_cpu_seconds(_validate_and_extract, corpus, PASSES)
    label = f"validate+extract ({len(corpus)} corpus lessons): lessons/CPU-s vs the original (node)"
    return [rate_row(label, len(corpus), ours, original, ">= 1.5x")]


if __name__ == "__main__":
    print_table([("lesson", row) for row in run()])
