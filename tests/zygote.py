"""A process that has imported what ``briefbot run`` imports and forks a ``briefbot`` for a test
(tests/processes.py starts one per test run and talks to it; run as a script, never imported).

A new interpreter spends ~3 s of CPU before ``briefbot run`` is up (importing aiohttp,
slack_bolt, discord.py, Sumy, NLTK, numpy; loading the language detector's model); the suite
starts ~35 of them. A child forked from here starts at ``main()`` with the modules a new
interpreter would have loaded by then (and a few more) and that read-only model already in
memory, and is otherwise a new process: its own pid, standard streams, working folder,
environment, arguments, default signal handlers; it exits as an interpreter does (threads
joined, atexit handlers, buffers flushed, the exit status or the signal that ended it). What
it shares with its siblings: the hash seed (a new interpreter draws its own). Start-up itself
(what a command imports, how fast) is tested with new interpreters (tests/test_fast_start.py),
never through here.

Protocol, over SOCK_SEQPACKET unix sockets: the connection to the process that started the
zygote (fd in argv[1]; its end stops the zygote) and those a listening socket accepts (fd in
argv[2], optional: the test workers of a run share the zygote their controller started). A
test sends one JSON message ``{"argv": ["-m", "bot", ...] | ["-c", CODE, ...], "env": {...},
"cwd": "..."}`` with four file descriptors (the child's stdin, stdout, stderr, and a pipe for
its exit status); the zygote answers ``{"pid": N}``, and when the child ends it writes the
child's raw wait status (decimal) into the status pipe and closes it.
"""

import gc
import importlib
import io
import json
import os
import select
import socket
import sys
import threading
import warnings

PRELOAD = (
    "bot.cli", "bot.app", "bot.summarize", "bot.monitoring", "bot.store.sqlite",
    "bot.store.postgres", "adapters.console", "adapters.slack_adapter", "adapters.slack_oauth",
    "adapters.discord_adapter",
)


def _preload() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as a new interpreter's defaults would show nothing
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except ImportError as exc:  # a module renamed: the child imports what it needs
                print(f"zygote: not preloaded: {name}: {exc}", file=sys.stderr, flush=True)
        # read-only data every `briefbot run` loads at start (App.warm_up: the language
        # detector's model, ~1.2 s of CPU, and the English stemmer and stop words): loaded
        # once here, the same tables in every child
        try:
            from bot.language import warm_detector
            from bot.text import language_kit

            warm_detector()
            language_kit("english")
        except ImportError as exc:
            print(f"zygote: not warmed: {exc}", file=sys.stderr, flush=True)
    gc.collect()
    gc.freeze()  # the children's collections skip what is here: fewer pages copied
    if threading.active_count() != 1:  # a fork keeps only the thread that forks
        raise SystemExit(f"zygote: threads started while preloading: {threading.enumerate()}")


def _serve(owner: socket.socket, listener: socket.socket | None) -> tuple[dict, list[int]]:
    """Answer requests (on the owner's connection, and on connections the listener accepts:
    the test workers of a run) until the owner's connection ends, then exit; returns only in a
    child."""
    poll = select.poll()
    conns = {owner.fileno(): owner}
    for sock in (owner, listener):
        if sock is not None:
            poll.register(sock.fileno(), select.POLLIN)
    children: dict[int, tuple[int, int]] = {}  # pidfd -> (pid, status pipe)
    while True:
        for fd, _ in poll.poll():
            if fd in children:
                pid, status = children.pop(fd)
                poll.unregister(fd)
                os.close(fd)
                _, raw = os.waitpid(pid, 0)
                os.write(status, str(raw).encode())
                os.close(status)
                continue
            if listener is not None and fd == listener.fileno():
                conn, _ = listener.accept()
                conns[conn.fileno()] = conn
                poll.register(conn.fileno(), select.POLLIN)
                continue
            conn = conns[fd]
            try:
                msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 4)
            except OSError:
                msg, fds = b"", []
            if not msg:
                if conn is owner:
                    os._exit(0)  # the tests are over; their children are theirs to stop
                poll.unregister(fd)
                del conns[fd]
                conn.close()
                continue
            request = json.loads(msg)
            pid = os.fork()
            if pid == 0:
                for sock in (*conns.values(), listener):
                    if sock is not None:
                        sock.close()
                for pidfd, (_, status) in children.items():
                    os.close(pidfd)
                    os.close(status)
                return request, fds
            pidfd = os.pidfd_open(pid)
            children[pidfd] = (pid, fds[3])
            poll.register(pidfd, select.POLLIN)
            for f in set(fds[:3]):
                os.close(f)
            conn.send(json.dumps({"pid": pid}).encode())


def _stream(fd: int, write: bool, env: dict) -> io.TextIOWrapper:
    """sys.stdin/stdout/stderr as CPython makes them for a new process (create_stdio)."""
    unbuffered = write and bool(env.get("PYTHONUNBUFFERED"))
    raw = io.FileIO(fd, "wb" if write else "rb", closefd=False)
    buffer: io.RawIOBase | io.BufferedIOBase = raw if unbuffered else (
        io.BufferedWriter(raw) if write else io.BufferedReader(raw))
    model = (sys.__stdout__ if fd == 1 else sys.__stderr__ if fd == 2 else sys.__stdin__)
    encoding, errors = model.encoding, model.errors  # type: ignore[union-attr]
    if env.get("PYTHONIOENCODING"):
        enc, _, err = env["PYTHONIOENCODING"].partition(":")
        encoding, errors = enc or encoding, err or errors
    return io.TextIOWrapper(buffer, encoding=encoding, errors=errors, newline="\n",  # type: ignore[arg-type]
                            line_buffering=not unbuffered and (fd == 2 or os.isatty(fd)),
                            write_through=unbuffered)


def _become(request: dict, fds: list[int]) -> list[str]:
    """Turn this fork into the requested process; the argv to run."""
    stdin, stdout, stderr, status = fds
    os.close(status)
    for target, fd in ((0, stdin), (1, stdout), (2, stderr)):
        os.dup2(fd, target)
    for fd in set(fds[:3]):
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    env = request["env"]
    sys.stdin = sys.__stdin__ = _stream(0, False, env)
    sys.stdout = sys.__stdout__ = _stream(1, True, env)
    sys.stderr = sys.__stderr__ = _stream(2, True, env)
    return list(request["argv"])


def main() -> None:
    owner = socket.socket(fileno=int(sys.argv[1]))
    listener = socket.socket(fileno=int(sys.argv[2])) if len(sys.argv) > 2 else None
    _preload()
    request, fds = _serve(owner, listener)
    argv = _become(request, fds)
    if argv[:1] == ["-m"]:
        import runpy

        sys.argv = ["-m", *argv[2:]]  # runpy puts the module's path in argv[0], as -m does
        sys.path[0] = os.getcwd()
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv[:1] == ["-c"]:
        import types

        sys.argv = ["-c", *argv[2:]]
        sys.path[0] = ""
        module = types.ModuleType("__main__")
        sys.modules["__main__"] = module
        exec(compile(argv[1], "<string>", "exec"), module.__dict__)
    else:
        raise SystemExit(f"zygote: cannot run {argv!r}")


if __name__ == "__main__":
    main()
