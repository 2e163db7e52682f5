"""Config loading: what the caches save.

Local: parsing the four example config items from disk (a fresh provider) versus a warm
provider that only stats the files. Remote (fake server on 127.0.0.1): a full fetch versus an
ETag revalidation (304) versus a TTL cache hit. Ratios are cold / warm in the same run.
"""

from collections.abc import Callable
from pathlib import Path

from bench.common import BenchRow, median_seconds
from esl_dagster.pipeline.config.provider import (
    ConfigProvider,
    LocalConfigProvider,
    RemoteConfigProvider,
)
from tests.fakes.config_server import run_config_server

CONFIGS_DIR = Path(__file__).resolve().parent.parent / "examples" / "configs"
ROUNDS = 50


def _load_all(provider: ConfigProvider) -> None:
    provider.load_presets()
    provider.load_student_profiles()
    provider.load_voices_map()
    provider.load_voice_catalog()


def _rounds(fn: Callable[[], object]) -> float:
    """Median milliseconds of one call of ``fn``, timed over ``ROUNDS`` calls."""

    def run() -> None:
        for _ in range(ROUNDS):
            fn()

    return median_seconds(run) / ROUNDS * 1000.0


def run() -> list[BenchRow]:
    catalog = CONFIGS_DIR / "elevenlabs.voices.sample.json"
    cold = _rounds(lambda: _load_all(LocalConfigProvider(CONFIGS_DIR, catalog_path=catalog)))
    warm_provider = LocalConfigProvider(CONFIGS_DIR, catalog_path=catalog)
    _load_all(warm_provider)
    warm = _rounds(lambda: _load_all(warm_provider))
    rows = [
        BenchRow("config local: cold load (4 items)", cold, "ms"),
        BenchRow("config local: warm load (mtime check)", warm, "ms", cold, cold / warm),
    ]
    with run_config_server() as server:
        for name in ("presets.json", "voices.yml"):
            server.state.put(f"/cfg/{name}", (CONFIGS_DIR / name).read_text(encoding="utf-8"))

        def fresh() -> None:
            with RemoteConfigProvider(f"{server.base_url}/cfg") as remote:
                remote.load_presets()
                remote.load_voices_map()

        revalidating = RemoteConfigProvider(f"{server.base_url}/cfg", cache_ttl=0.0)
        cached = RemoteConfigProvider(f"{server.base_url}/cfg", cache_ttl=3600.0)
        try:
            for provider in (revalidating, cached):
                provider.load_presets()
                provider.load_voices_map()
            full = _rounds(fresh)
            etag = _rounds(lambda: (revalidating.load_presets(), revalidating.load_voices_map()))
            hit = _rounds(lambda: (cached.load_presets(), cached.load_voices_map()))
        finally:
            revalidating.close()
            cached.close()
    rows += [
        BenchRow("config remote: full fetch (2 items)", full, "ms"),
        BenchRow("config remote: ETag 304 revalidation", etag, "ms", full, full / etag),
        BenchRow("config remote: TTL cache hit", hit, "ms", full, full / hit),
    ]
    return rows
