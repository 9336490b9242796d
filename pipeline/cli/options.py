"""What every command shares: the ``--root`` option, its settings, and errors as exit codes."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pipeline.config import ConfigError, Settings, load_settings, resolve_root
from pipeline.lock import ProcessorBusy

EXIT_PROCESSOR_FAILED = 1


class ProcessorFailed(click.ClickException):
    """The processor itself could not work: exit code 1 (usage errors are 2)."""

    exit_code = EXIT_PROCESSOR_FAILED


def root_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--root``, shared by every command: else $LINKREG_ROOT, else the current directory."""
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="The root folder (linkreg.toml, inbox/, outbox/); default $LINKREG_ROOT, else here.",
    )(command)


def failures_to_exit_codes(command: Callable[..., Any]) -> Callable[..., Any]:
    """Typed library errors become one clear line and exit code 1, never a stack trace."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (ConfigError, ProcessorBusy) as exc:
            raise ProcessorFailed(str(exc)) from exc
        except click.ClickException:
            raise
        except Exception as exc:
            # The other typed errors live in modules that are slow to import: they are looked
            # up only once something went wrong.
            from pipeline.admin import AdminError
            from pipeline.processor import ProcessorError
            from pipeline.store import StoreError

            if isinstance(exc, StoreError | ProcessorError):
                raise ProcessorFailed(str(exc)) from exc
            if isinstance(exc, AdminError):
                raise click.ClickException(str(exc)) from exc
            raise

    return wrapper


def settings_for(root: Path | None) -> Settings:
    return load_settings(resolve_root(root, dict(os.environ)))
