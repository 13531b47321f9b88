"""Real ``briefbot`` processes in tests: how a test starts them, and the one way it stops them.

``create_subprocess_exec``, ``Popen`` and ``run`` take what their namesakes in asyncio and
subprocess take and give back the same objects. For ``[sys.executable, "-m", "bot", ...]`` and
``[sys.executable, "-c", CODE, ...]`` the new process is forked from a zygote (tests/zygote.py:
one per run, started by pytest-xdist's controller, else at the first use) that has already
imported the bot and loaded its language model, instead of a new interpreter paying ~3 s of
CPU for the same: a new process all the same (own pid, streams, folder, environment, default
signal handlers, a real exit status or signal), only without the start-up cost. Tests about
what a command imports or how fast it starts use new interpreters (tests/test_fast_start.py).
``BRIEFBOT_TEST_FRESH_PROCESSES=1`` makes every one a new interpreter again.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from asyncio import base_subprocess
from asyncio.subprocess import Process
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

FRESH = "BRIEFBOT_TEST_FRESH_PROCESSES"
SHARED = "BRIEFBOT_TEST_ZYGOTE"  # the run's zygote (a unix socket path), set by its controller
ZYGOTE = Path(__file__).resolve().with_name("zygote.py")
REPO = ZYGOTE.parent.parent
_START_ENV = dict(os.environ)  # the worker's, before any test changes it


# the zygote needs fork, fds over unix sockets and pidfds (Linux 5.3+); elsewhere: new interpreters
FORKS = sys.platform.startswith("linux") and hasattr(os, "pidfd_open")


def _forked(args: Sequence[Any]) -> bool:
    """Whether ``args`` is a briefbot (or ``python -c``) process the zygote can fork."""
    argv = [os.fspath(a) for a in args]
    return (FORKS and not os.environ.get(FRESH) and len(argv) >= 3
            and argv[0] == sys.executable
            and (argv[1:3] == ["-m", "bot"] or argv[1] == "-c"))


class _Zygote:
    """The zygote this process asks: the run's (its address in ``SHARED``: the controller of
    a pytest-xdist run starts one for its workers), else one of its own, started at the first
    request and stopped when this process exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._log: IO[bytes] | None = None

    @property
    def owner(self) -> bool:
        return self._proc is not None

    def spawn(self, argv: list[str], *, env: dict[str, str], cwd: str,
              fds: list[int]) -> tuple[int, int]:
        """Fork ``argv`` (without the interpreter) with ``fds`` as its stdin, stdout and
        stderr: (pid, the read end of its status pipe)."""
        with self._lock:
            if self._sock is None:
                shared = os.environ.get(SHARED, "")
                if shared:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                    self._sock.connect(shared)
                    atexit.register(self.close)
                else:
                    self.start()
            assert self._sock is not None
            status_r, status_w = os.pipe()
            try:
                message = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode()
                socket.send_fds(self._sock, [message], [*fds, status_w])
                reply = self._sock.recv(1 << 16)
            except OSError:
                reply = b""
            finally:
                os.close(status_w)
            if not reply:
                os.close(status_r)
                raise RuntimeError(f"the tests' zygote (tests/zygote.py) is gone:\n{self._tail()}")
            return int(json.loads(reply)["pid"]), status_r

    def start(self, *, listen_in: str = "") -> str:
        """Start a zygote for this process; with ``listen_in`` (a folder), for other processes
        too: the address they connect to."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        passed = [theirs]
        address = ""
        if listen_in:
            address = os.path.join(listen_in, "zygote.socket")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            listener.bind(address)
            listener.listen(64)
            passed.append(listener)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (read back if the zygote dies)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, str(ZYGOTE), *(str(s.fileno()) for s in passed)],
                pass_fds=[s.fileno() for s in passed], stdin=subprocess.DEVNULL,
                stdout=self._log, stderr=self._log, cwd=REPO, env=_START_ENV)
        finally:
            for sock in passed:
                sock.close()
        self._sock = mine
        atexit.register(self.close)
        return address

    def _tail(self) -> str:
        if self._log is None:
            return "(it belongs to another process: see its output)"
        self._log.seek(0)
        return self._log.read()[-4000:].decode(errors="replace")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()  # the zygote exits at the end of its owner's connection
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


_zygote = _Zygote()


def share_zygote(folder: str) -> None:
    """Start the run's zygote in this process (a pytest-xdist controller, before its workers
    start), listening in ``folder``: the workers inherit its address in ``SHARED``."""
    os.environ[SHARED] = _zygote.start(listen_in=folder)


def stop_zygote() -> None:
    """Let go of the zygote: stop it if this process started it."""
    if _zygote.owner:
        os.environ.pop(SHARED, None)
    _zygote.close()


class ForkedPopen(subprocess.Popen[Any]):
    """A ``subprocess.Popen`` whose process the zygote forked. Its parent is the zygote, which
    reports the exit status through a pipe; everything else is Popen's own code."""

    _status_fd = -1
    _status: int | None = None
    _watched = False  # an event loop reads the status pipe (create_subprocess_exec)

    def _execute_child(self, args: Any, executable: Any, preexec_fn: Any, close_fds: bool,
                       pass_fds: Any, cwd: Any, env: Any, startupinfo: Any, creationflags: int,
                       shell: bool, p2cread: int, p2cwrite: int, c2pread: int, c2pwrite: int,
                       errread: int, errwrite: int, *rest: Any) -> None:
        if shell or preexec_fn is not None or pass_fds or executable is not None:
            raise ValueError("a forked briefbot takes no shell, preexec_fn, pass_fds or "
                             "executable")
        where = os.fspath(cwd) if cwd is not None else os.getcwd()
        if not os.path.isdir(where):
            raise FileNotFoundError(2, "No such file or directory", where)
        self.pid, self._status_fd = _zygote.spawn(
            [os.fspath(a) for a in args[1:]],
            env={os.fsdecode(k): os.fsdecode(v)
                 for k, v in (os.environ if env is None else env).items()},
            cwd=where,
            fds=[p2cread if p2cread != -1 else 0, c2pwrite if c2pwrite != -1 else 1,
                 errwrite if errwrite != -1 else 2])
        self._child_created = True
        self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)

    def _read_status(self, block: bool) -> int | None:
        if self._status is None:
            if not block and not select.select([self._status_fd], [], [], 0)[0]:
                return None
            data = b""
            while chunk := os.read(self._status_fd, 64):
                data += chunk
            self._status = int(data) if data else 255 << 8  # the zygote died: exit 255
            if not self._watched:
                os.close(self._status_fd)
                self._status_fd = -1
        return self._status

    def _internal_poll(self, _deadstate: int | None = None, *_: Any) -> int | None:
        if self.returncode is None and self._waitpid_lock.acquire(False):  # type: ignore[attr-defined]
            try:
                if self.returncode is None:
                    status = self._read_status(block=False)
                    if status is not None:
                        self._handle_exitstatus(status)  # type: ignore[attr-defined]
            except (OSError, ValueError, TypeError):  # __del__ at interpreter exit
                if _deadstate is not None:
                    self.returncode = _deadstate
            finally:
                self._waitpid_lock.release()  # type: ignore[attr-defined]
        return self.returncode

    def _wait(self, timeout: float | None) -> int:
        if self.returncode is None:
            if (timeout is not None and self._status is None
                    and not select.select([self._status_fd], [], [], max(timeout, 0))[0]):
                raise subprocess.TimeoutExpired(self.args, timeout)
            with self._waitpid_lock:  # type: ignore[attr-defined]
                if self.returncode is None:
                    status = self._read_status(block=True)
                    assert status is not None
                    self._handle_exitstatus(status)  # type: ignore[attr-defined]
        return self.returncode


def Popen(args: Sequence[Any], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **kwargs)``; a forked process for briefbot."""
    return ForkedPopen(args, **kwargs) if _forked(args) else subprocess.Popen(args, **kwargs)


def run(args: Sequence[Any], *, input: Any = None, capture_output: bool = False,
        timeout: float | None = None, check: bool = False,
        **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run(args, ...)``; a forked process for briefbot."""
    if not _forked(args):
        return subprocess.run(args, input=input, capture_output=capture_output,
                              timeout=timeout, check=check, **kwargs)
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    with ForkedPopen(args, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except BaseException:
            process.kill()
            raise
        code = process.poll()
        assert code is not None
    if check and code:
        raise subprocess.CalledProcessError(code, process.args, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(process.args, code, stdout, stderr)


class _ForkedTransport(base_subprocess.BaseSubprocessTransport):
    """asyncio's subprocess transport around a ForkedPopen (what _UnixSubprocessTransport is
    around a Popen); the exit comes from the status pipe instead of a child watcher."""

    def _start(self, args: Any, shell: bool, stdin: Any, stdout: Any, stderr: Any,
               bufsize: int, **kwargs: Any) -> None:
        self._proc = kwargs["popen"]


async def create_subprocess_exec(program: Any, *args: Any, stdin: Any = None, stdout: Any = None,
                                 stderr: Any = None, limit: int = 2 ** 16,
                                 **kwargs: Any) -> Process:
    """``asyncio.create_subprocess_exec(program, *args, ...)``; a forked process for
    briefbot."""
    if not _forked([program, *args]):
        return await asyncio.create_subprocess_exec(program, *args, stdin=stdin, stdout=stdout,
                                                    stderr=stderr, limit=limit, **kwargs)
    loop = asyncio.get_running_loop()
    popen = await asyncio.to_thread(  # the first one waits for the zygote's imports
        ForkedPopen, [program, *args], stdin=stdin, stdout=stdout, stderr=stderr,
        universal_newlines=False, bufsize=0, **kwargs)
    popen._watched = True
    protocol = asyncio.subprocess.SubprocessStreamProtocol(limit=limit, loop=loop)
    waiter = loop.create_future()
    transport = _ForkedTransport(loop, protocol, [program, *args], False, stdin, stdout,
                                 stderr, 0, waiter=waiter, popen=popen)

    def exited() -> None:
        loop.remove_reader(popen._status_fd)
        code = popen.wait()  # the status is there: no wait
        os.close(popen._status_fd)
        popen._status_fd = -1
        transport._process_exited(code)

    loop.add_reader(popen._status_fd, exited)
    try:
        await waiter
    except BaseException:
        transport.close()
        await transport._wait()
        raise
    return Process(transport, protocol, loop)


async def stop_processes(*procs: Process, grace: float = 30.0) -> None:
    """SIGTERM every process still running (all at once: they stop in parallel), wait up to
    ``grace`` seconds for each to exit, then SIGKILL what is left. For a test's ``finally``:
    it never raises for a process that already exited."""
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)

    async def wait(proc: Process) -> None:
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    await asyncio.gather(*(wait(p) for p in procs))
