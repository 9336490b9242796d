"""``linkreg init``: a root with its configuration, folders and an empty, migrated store."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Settings, load_settings, write_default_config
from pipeline.run import store_options
from pipeline.store import opened


def init_root(root: Path) -> Settings:
    """Idempotent: keeps an existing linkreg.toml and store, adds what is missing."""
    write_default_config(root)
    settings = load_settings(root)
    for institution in settings.institutions.values():
        for operation in sorted(institution.operations):
            if institution.may(operation):
                (settings.inbox / institution.name / operation.value).mkdir(
                    parents=True, exist_ok=True
                )
        (settings.outbox / institution.name).mkdir(parents=True, exist_ok=True)
    for folder in (settings.archive, settings.work):
        folder.mkdir(parents=True, exist_ok=True)
    with opened(store_options(settings)):
        pass
    return settings
