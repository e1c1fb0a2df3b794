"""Exception types that callers handle. Each message says what was expected and what came."""


class LoomsightError(Exception):
    """Base of every error the CLI reports as a clear message instead of a traceback."""


class DatasetError(LoomsightError):
    """A dataset, label file, annotation file or image is missing, unreadable or malformed."""


class ModelFileError(LoomsightError):
    """A model file (ONNX, checkpoint or card) is missing, corrupt or not a detector we can run."""


class TrainingError(LoomsightError):
    """Training or export cannot run as asked (missing dependency, bad arguments, failed check)."""


class ConfigError(LoomsightError):
    """A configuration file or its values cannot be used (says which field and why)."""


class SourceLost(LoomsightError):  # noqa: N818 (the name the camera issue gives it)
    """A capture source cannot be opened or stopped delivering frames (camera, stream, file)."""


class OutboxError(LoomsightError):
    """The local outbox cannot be opened or written (folder missing, not writable, disk full)."""
