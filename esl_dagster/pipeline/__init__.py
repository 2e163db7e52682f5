"""The lesson engine: parsing, validation, Notion, speech, storage, manifests, the in-process runner.

Nothing under this package imports dagster or fastapi; the Dagster ops and the CLI both call it.
"""
