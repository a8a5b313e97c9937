"""A tiny training run in its own process, for the tests (and benchmarks/soak.py) that signal or kill it.

    python -m tests.reliability.child_run OUTPUT DATA_ROOT CLIP [--method M] [--set key=value ...]
        [--pause-at-step N] [--pause-before-replace NAME:K] [--pause-in-validation K]

A pause writes ``OUTPUT.ready`` (what the process is about to do) and waits, up to a minute, for
``OUTPUT.go``: the parent signals or kills it meanwhile. The process exits as ``hicropl train`` does
(``exit_code_of``). Torch uses one thread, so that every process computes bit for bit alike.
``start`` runs it in a process forked from a server that imported all this once (a fresh Python
would spend seconds importing torch for every run).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import hicropl.engine.run as run_module
from hicropl.errors import exit_code_of
from tests.engine.engine_testkit import register_test_method, tiny_run_config

# Settings of the tiny runs: two epochs of eight steps, validation every epoch (best_val).
TINY = (
    "train.epochs=2",
    "train.batch_size=2",
    "train.selection=best_val",
    "sched.step_per=step",
)
HICROPL = ("method.n_ctx=2", "method.depth=4", "method.boundary=2")


def pause(output: Path, what: str) -> None:
    ready, go = Path(f"{output}.ready"), Path(f"{output}.go")
    ready.write_text(what)
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    go.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("output", type=Path)
    parser.add_argument("data_root", type=Path)
    parser.add_argument("clip", type=Path)
    parser.add_argument("--method", default="test_head")
    parser.add_argument("--cache", type=Path, help="HICROPL_CACHE")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--pause-at-step", type=int, default=-1, help="after this global optimiser step")
    parser.add_argument("--pause-before-replace", default="", help="NAME:K, before the K-th rename onto NAME")
    parser.add_argument("--pause-in-validation", type=int, default=-1, help="inside the K-th validation")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.cache is not None:
        os.environ["HICROPL_CACHE"] = str(args.cache)
    register_test_method()
    if args.pause_before_replace:
        name, _, count = args.pause_before_replace.rpartition(":")
        real_replace, seen = os.replace, []

        def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
            if Path(dst).name == name:
                seen.append(dst)
                if len(seen) == int(count):
                    pause(args.output, f"before replace {name} #{count}")
            real_replace(src, dst)

        os.replace = replace  # type: ignore[assignment]
    if args.pause_in_validation >= 0:
        real_evaluate, validations = run_module.evaluate, []

        def evaluate(*call_args, **kwargs):  # type: ignore[no-untyped-def]
            if call_args[6] == "val":
                validations.append(1)
                if len(validations) == args.pause_in_validation:
                    pause(args.output, f"in validation #{args.pause_in_validation}")
            return real_evaluate(*call_args, **kwargs)

        run_module.evaluate = evaluate  # type: ignore[assignment]

    def pause_at_step(state) -> None:  # type: ignore[no-untyped-def]
        if state.global_step == args.pause_at_step:
            pause(args.output, f"after step {state.global_step}")

    method_overrides = HICROPL if args.method == "hicropl" else ()
    config = tiny_run_config(args.data_root, args.clip, *TINY, *method_overrides, *args.overrides, method=args.method)

    def run() -> int:
        run_module.train(config, args.output, quiet=True, progress=False, step_callbacks=[pause_at_step])
        return 0

    return exit_code_of(run)


_FORKSERVER = multiprocessing.get_context("forkserver")
_FORKSERVER.set_forkserver_preload([__name__])


@dataclass
class Child:
    """A tiny run in a child process."""

    process: multiprocessing.process.BaseProcess
    output: Path

    @property
    def ready_file(self) -> Path:
        return Path(f"{self.output}.ready")

    def wait_ready(self, timeout: float = 120) -> str:
        """Wait for the child's pause; returns what it is about to do."""
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if not self.process.is_alive():
                raise AssertionError(f"the child ended (exit code {self.process.exitcode}) before its pause")
            if time.monotonic() > deadline:
                raise AssertionError("the child did not reach its pause")
            time.sleep(0.01)
        what = self.ready_file.read_text()
        self.ready_file.unlink()
        return what

    def resume(self) -> None:
        Path(f"{self.output}.go").write_text("")

    def send(self, signum: int) -> None:
        assert self.process.pid is not None
        os.kill(self.process.pid, signum)

    def kill(self) -> int:
        self.send(signal.SIGKILL)
        return self.join()

    def join(self, timeout: float = 180) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            raise AssertionError("the child run did not end")
        return self.process.exitcode


def start(output: Path, data_root: Path, clip: Path, cache: Path, *args: str) -> Child:
    """Start ``main`` on these arguments in a child process."""
    argv = [str(output), str(data_root), str(clip), "--cache", str(cache), *args]
    process = _FORKSERVER.Process(target=_exit_with_main, args=(argv,))
    process.start()
    return Child(process, output)


def start_function(target, *args: object) -> multiprocessing.process.BaseProcess:  # type: ignore[no-untyped-def]
    """Run ``target(*args)`` (a module-level function) in a child process of the same server."""
    process = _FORKSERVER.Process(target=target, args=args)
    process.start()
    return process


def _exit_with_main(argv: list[str]) -> None:
    sys.exit(main(argv))


if __name__ == "__main__":
    sys.exit(main())
