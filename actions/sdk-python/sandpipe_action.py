"""The sandpipe action SDK for Python: a thin layer over the bindings componentize-py
generates from the sandpipe:action WIT (the `wit_world` package), with the Rust SDK's
concepts and names — Request, Configuration, Outcome, Failure, log, copy_tree.

An action is one function decorated with @action; the module that defines it must also
expose `Runner` (import it from here), the class componentize-py exports:

    from sandpipe_action import Outcome, Request, Runner, action

    @action
    def run(request: Request) -> Outcome:
        name = request.config.required("Name")
        return Outcome().variable("Greeting", f"Hello, {name}")

Files are plain Python: inputs are read-only directories under /in, outputs read-write
directories under /out, scratch space is /tmp. Raise Failure to fail the action; any other
exception fails it too, with its message.
"""

import os
import shutil
import traceback
from typing import Callable, Iterator, List, Optional, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log as _log
from wit_world.imports import types

InputArtifact = types.InputArtifact
OutputArtifact = types.OutputArtifact
ActionType = types.ActionType


class Failure(Exception):
    """A failed job: CodePipeline's FailureDetails."""

    def __init__(self, message: str, kind: types.FailureKind = types.FailureKind.JOB_FAILED,
                 external_execution_id: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.external_execution_id = external_execution_id

    @staticmethod
    def job(message: str) -> "Failure":
        return Failure(message, types.FailureKind.JOB_FAILED)

    @staticmethod
    def configuration(message: str) -> "Failure":
        return Failure(message, types.FailureKind.CONFIGURATION_ERROR)

    @staticmethod
    def permission(message: str) -> "Failure":
        return Failure(message, types.FailureKind.PERMISSION_ERROR)

    @staticmethod
    def system(message: str) -> "Failure":
        return Failure(message, types.FailureKind.SYSTEM_UNAVAILABLE)

    def with_external_execution_id(self, external_id: str) -> "Failure":
        self.external_execution_id = external_id
        return self

    def _raw(self) -> types.Failure:
        return types.Failure(self.kind, self.message, self.external_execution_id)


class Configuration:
    """The action's configuration, with every #{variable} already resolved by the host."""

    def __init__(self, entries: List[Tuple[str, str]]):
        self._entries = dict(entries)

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        return self._entries.get(key, default)

    def required(self, key: str) -> str:
        """The value of a required property; missing or empty is a ConfigurationError."""
        value = self._entries.get(key)
        if not value:
            raise Failure.configuration(f"the required configuration property '{key}' is missing")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        """A true/false property (case-insensitive, as CodePipeline accepts it)."""
        value = self._entries.get(key)
        if value is None:
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise Failure.configuration(
            f"configuration property '{key}' must be true or false, not '{value}'")

    def __iter__(self) -> Iterator[Tuple[str, str]]:
        return iter(self._entries.items())


class Request:
    """One execution of an action, as the host describes it."""

    def __init__(self, raw: types.Request):
        self.pipeline = raw.pipeline
        self.stage = raw.stage
        self.action = raw.action
        self.execution_id = raw.execution_id
        self.action_type = raw.action_type
        self.inputs: List[InputArtifact] = raw.inputs
        self.outputs: List[OutputArtifact] = raw.outputs
        self.continuation_token = raw.continuation_token
        self.config = Configuration(raw.configuration)

    def single_input(self) -> InputArtifact:
        if len(self.inputs) != 1:
            raise Failure.configuration(
                f"this action takes exactly one input artifact, but {len(self.inputs)} were given")
        return self.inputs[0]

    def single_output(self) -> OutputArtifact:
        if len(self.outputs) != 1:
            raise Failure.configuration(
                f"this action produces exactly one output artifact, but {len(self.outputs)} "
                "were declared")
        return self.outputs[0]


class Outcome:
    """A successful (or still in progress) job: CodePipeline's PutJobSuccessResult."""

    def __init__(self):
        self._raw = types.Outcome([], None, None, None, None, None, [])

    def variable(self, name: str, value: str) -> "Outcome":
        """Publish an output variable under the action's namespace."""
        self._raw.output_variables.append((name, value))
        return self

    def summary(self, text: str) -> "Outcome":
        self._raw.summary = text
        return self

    def external_execution_id(self, external_id: str) -> "Outcome":
        self._raw.external_execution_id = external_id
        return self

    def percent_complete(self, percent: int) -> "Outcome":
        self._raw.percent_complete = max(0, min(100, percent))
        return self

    def continue_with(self, token: str) -> "Outcome":
        """Still in progress: the host calls the action again with this token."""
        self._raw.continuation_token = token
        return self

    def artifact_file(self, artifact: str, file: str) -> "Outcome":
        """Store output artifact `artifact` as the bytes of `file` (relative to its output
        directory), unchanged, instead of a zip of the directory."""
        self._raw.artifact_files.append(types.ArtifactFile(artifact, file))
        return self


class log:
    """Structured log lines and progress, shown live and kept with the execution; what the
    action prints is captured into the same log."""

    @staticmethod
    def debug(message: str) -> None:
        _log.log(_log.Level.DEBUG, message)

    @staticmethod
    def info(message: str) -> None:
        _log.log(_log.Level.INFO, message)

    @staticmethod
    def warn(message: str) -> None:
        _log.log(_log.Level.WARN, message)

    @staticmethod
    def error(message: str) -> None:
        _log.log(_log.Level.ERROR, message)

    @staticmethod
    def progress(percent_complete: Optional[int], summary: str) -> None:
        percent = None if percent_complete is None else max(0, min(100, percent_complete))
        _log.progress(percent, summary)


def copy_tree(source: str, target: str) -> None:
    """Copy the tree under `source` into `target` (created if missing): directories, files
    and symbolic links as links; a file already in `target` is replaced. (shutil.copytree
    copies permissions and times, which WASI's file system does not offer.)"""
    # Not os.makedirs: an output directory is itself a preopen, and its parents (/out, /)
    # do not exist for the action.
    if not os.path.isdir(target):
        os.mkdir(target)
    for entry in os.scandir(source):
        destination = os.path.join(target, entry.name)
        if entry.is_symlink():
            if os.path.lexists(destination):
                os.remove(destination)
            os.symlink(os.readlink(entry.path), destination)
        elif entry.is_dir():
            copy_tree(entry.path, destination)
        else:
            shutil.copyfile(entry.path, destination)


_handler: Optional[Callable[[Request], Outcome]] = None


def action(handler: Callable[[Request], Outcome]) -> Callable[[Request], Outcome]:
    """Make `handler` the action: called with each Request, it returns an Outcome or raises."""
    global _handler
    _handler = handler
    return handler


class Runner(exports.Runner):
    """The sandpipe:action/runner export componentize-py looks for in the app module."""

    def run(self, request: types.Request) -> types.Outcome:
        if _handler is None:
            raise Err(Failure.system("no function is decorated with @action")._raw())
        try:
            outcome = _handler(Request(request))
        except Failure as failure:
            raise Err(failure._raw())
        except Exception as error:  # the action's own bug: fail with what it was
            log.error(traceback.format_exc())
            raise Err(Failure.job(f"{type(error).__name__}: {error}")._raw())
        if not isinstance(outcome, Outcome):
            raise Err(Failure.system(
                f"the action returned {type(outcome).__name__}, not an Outcome")._raw())
        return outcome._raw
