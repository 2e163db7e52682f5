"""The Dagster resource of the engine's services: ``PipelineResource`` builds ``Services``.

Its one field, ``variables``, holds the engine's settings as environment variable name -> value,
each bound as ``dg.EnvVar`` in ``defs/resource_bindings.py`` (only the variables set where the code
location loads, so an unset one leaves the engine's default instead of failing every run). Dagster
resolves them when a run starts; the engine's one table turns them into its ``Settings`` tree
(:func:`~esl_dagster.pipeline.settings.settings_from_variables`), the same mapping the ``esl``
command applies to the environment: every accepted variable name (aliases, MinIO, the seed's
names) works inside runs, and no field is renamed on the way. The choice between the real service
and the embedded default (design D5) is made once, by the engine's ``build_services``: no Notion
token -> preview mode, no ElevenLabs key -> espeak-ng, no bucket -> Notion-hosted audio when Notion
is live, else the local upload folder. The engine's settings and services are imported only when
the resource is used: importing the code location stays light.
"""

from typing import TYPE_CHECKING

import dagster as dg
import pydantic
from pydantic import PrivateAttr

if TYPE_CHECKING:
    from esl_dagster.pipeline.services import Services
    from esl_dagster.pipeline.settings import Settings


class PipelineResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """All services of a lesson run; ``services()`` builds the engine's ``Services`` for an op."""

    variables: dict[str, str] = pydantic.Field(default_factory=dict)
    _built: "Services | None" = PrivateAttr(default=None)

    def settings(self) -> "Settings":
        """The engine's settings from the bound variables (the environment is not read again)."""
        from esl_dagster.pipeline.settings import settings_from_variables

        return settings_from_variables(self.variables)

    def modes(self) -> dict[str, str]:
        """Which real service or embedded default each part uses (design D5)."""
        settings = self.settings()
        return {
            "notion": "notion" if settings.notion_enabled else "preview",
            "tts": "elevenlabs" if settings.elevenlabs_enabled else "espeak",
            "upload": (
                "s3" if settings.s3_enabled else "notion" if settings.notion_enabled else "local"
            ),
        }

    def services(self) -> "Services":
        """The engine's services for one op: built once per run process (clients are reused by
        every op of the run, which share one ``CountingMetrics``). The engine logs to the ``esl``
        logger, which the instance's ``python_logs: managed_python_loggers`` puts into the run's
        log."""
        if self._built is None:
            from esl_dagster.pipeline.logs import EventLogger
            from esl_dagster.pipeline.observability import CountingMetrics
            from esl_dagster.pipeline.services import build_services

            self._built = build_services(
                self.settings(), logger=EventLogger(), metrics=CountingMetrics()
            )
        return self._built
