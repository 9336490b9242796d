"""The file contract's closed vocabularies: operations, columns, statuses and reasons."""

from __future__ import annotations

from enum import StrEnum


class Operation(StrEnum):
    """An operation: the folder name under ``inbox/<institution>/``."""

    LOOKUP_INSZ = "lookup-insz"
    LOOKUP_KEY = "lookup-key"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPORT = "report"
    FORMATS = "formats"

    @property
    def mutates(self) -> bool:
        return self in MUTATIONS

    @property
    def admin_only(self) -> bool:
        return self is Operation.DELETE


MUTATIONS = frozenset({Operation.CREATE, Operation.UPDATE, Operation.DELETE, Operation.REPORT})


class Status(StrEnum):
    """The status of one result row."""

    FOUND = "FOUND"
    NOT_FOUND = "NOT_FOUND"
    CREATED = "CREATED"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    UPDATED = "UPDATED"
    UNCHANGED = "UNCHANGED"
    DELETED = "DELETED"
    REPORTED = "REPORTED"
    CONFLICT = "CONFLICT"
    REJECTED = "REJECTED"


class Reason(StrEnum):
    """Why a row was rejected or clashed with the store."""

    MISSING_VALUE = "MISSING_VALUE"
    INVALID_INSZ = "INVALID_INSZ"
    INVALID_COUNTRY = "INVALID_COUNTRY"
    UNKNOWN_KEY_TYPE = "UNKNOWN_KEY_TYPE"
    INVALID_KEY_FORMAT = "INVALID_KEY_FORMAT"
    INVALID_DATE = "INVALID_DATE"
    INVALID_PERIOD = "INVALID_PERIOD"
    DUPLICATE_IN_FILE = "DUPLICATE_IN_FILE"
    KEY_LINKED_TO_OTHER_INSZ = "KEY_LINKED_TO_OTHER_INSZ"
    # Added by LinkRegister where the contract left room (documented in the README):
    PERIOD_OVERLAP = "PERIOD_OVERLAP"
    INSZ_REPLACED = "INSZ_REPLACED"


class ReceiptStatus(StrEnum):
    """The status of a whole file, in its receipt."""

    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    DUPLICATE = "DUPLICATE"


class FileReason(StrEnum):
    """Why a whole file was rejected: nothing applied, no result file."""

    UNSUPPORTED_FILE_TYPE = "UNSUPPORTED_FILE_TYPE"
    UNREADABLE_FILE = "UNREADABLE_FILE"
    ENCODING_ERROR = "ENCODING_ERROR"
    MISSING_COLUMNS = "MISSING_COLUMNS"
    UNKNOWN_COLUMNS = "UNKNOWN_COLUMNS"
    EMPTY_FILE = "EMPTY_FILE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED"


class FileRejected(Exception):
    """A request file is refused as a whole; ``reason`` goes into its receipt."""

    def __init__(self, reason: FileReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


REQUIRED_COLUMNS: dict[Operation, tuple[str, ...]] = {
    Operation.LOOKUP_INSZ: ("insz",),
    Operation.LOOKUP_KEY: ("country", "foreign_key"),
    Operation.CREATE: ("insz", "country", "key_type", "foreign_key"),
    Operation.UPDATE: ("insz", "country", "key_type", "foreign_key"),
    Operation.DELETE: ("insz", "country", "key_type", "foreign_key", "reason"),
    Operation.REPORT: ("insz", "country", "key_type", "foreign_key", "reason"),
    Operation.FORMATS: (),
}

OPTIONAL_COLUMNS: dict[Operation, tuple[str, ...]] = {
    Operation.LOOKUP_INSZ: ("country", "key_type", "as_of", "recorded_at", "ref"),
    Operation.LOOKUP_KEY: ("key_type", "as_of", "recorded_at", "ref"),
    Operation.CREATE: ("valid_from", "valid_to", "ref"),
    Operation.UPDATE: ("valid_from", "valid_to", "ref"),
    Operation.DELETE: ("ref",),
    Operation.REPORT: ("ref",),
    Operation.FORMATS: ("country", "key_type"),
}

RESULT_COLUMNS: tuple[str, ...] = (
    "row",
    "ref",
    "status",
    "reason",
    "message",
    "insz",
    "country",
    "key_type",
    "foreign_key",
    "valid_from",
    "valid_to",
)

INPUT_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")
