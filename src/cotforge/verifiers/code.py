"""Code verifier: runs a candidate against HumanEval(+)-style tests in a limited subprocess.

Gold is a HumanEval row: ``test`` (source defining ``check(candidate)``), ``entry_point`` (the
function name), optionally ``prompt`` (signature + docstring, the start of the program) and
``canonical_solution``. HumanEval+ (EvalPlus) rows have the same fields and load the same way.

Where the code is: the reasoning (``<think>...</think>``) never counts; in the rest, inside
``<answer>`` tags when present, the last fenced block that defines the entry point (python or
unlabelled fences, an unclosed final fence included), else the last python fence, else the raw
text. A full definition is appended to the prompt (so helper functions and imports in the prompt
stay available); a body-only completion continues the prompt's function.

How each candidate runs (``code_sandbox.py`` the parent side, ``code_harness.py`` the inside,
``code_confine.py`` its layers, ``code_zygote.py`` the process runs fork from;
``tests/verifiers/test_sandbox.py`` runs each attack below, as root and as an ordinary user):

- each run is forked from a zygote (one long-lived harness process per sandbox, started as the
  verifier's user; Linux) that never runs anything from a problem, so a run starts from the same
  clean state without an interpreter start; the zygote is reachable only through a private
  socket pair that runs close first, and it exits with the verifier (killing what is left of
  its runs). It is every run's subreaper: a candidate whose leader was killed at the deadline
  becomes its child and is killed, even as an ordinary user. Elsewhere an interpreter is
  started per run;
- two processes per candidate, joined by pipes: the candidate process runs prompt + candidate
  and answers calls to the entry point; the test process runs prompt + the gold's tests, with
  ``candidate`` (and the entry point's name) bound to a proxy. Only the test process holds the
  result channel, and only plain data crosses back (None, bool, int, float, complex, str, bytes,
  list, tuple, dict, set, frozenset, Fraction, Decimal), decoded without running candidate code.
  So a pass is what the gold's asserts saw: ``gc.get_objects()``, frame walking, ``ctypes`` or
  writing a forged result to any fd cannot produce one, and an object whose ``__eq__`` always
  returns True does not cross (``incorrect``: "cannot cross the sandbox boundary"). The tests
  reach the test process only after the split, so the candidate cannot read them (nor the
  reference solution EvalPlus tests embed) from memory; a message the candidate forges before
  its code is loaded ("sandbox unavailable") is ``incorrect``, never an ``error``;
- as root: each process runs under its own fresh random uid (about 2**28 possible; no groups,
  no capabilities, no new privileges) in a fresh 0700 temporary directory owned by the
  candidate uid and removed afterwards. The interpreter may sit in a home that other users cannot
  enter (pyenv under /root): its directories are opened before the drop and imported through
  those read-only handles. When the uid change is impossible (no CAP_SETUID) the verdict is
  ``error`` ("cannot be set up", a setup failure), never a run as root;
- Landlock where the kernel has it (ABI >= 1): no file writes, creations, deletions, renames or
  truncations outside the temporary directory, even in world-writable directories; TCP bind and
  connect denied (ABI >= 4, unless ``network=True``); signals, ptrace and abstract unix sockets
  outside the candidate process denied (ABI >= 6). Not root, Landlock ABI >= 6 with the
  seccomp filter below is the boundary; without them the verdict is ``error`` unless ``allow_unsandboxed=True``, which runs candidates as the current
  user (able to kill its processes and write its files) and logs a warning at most once a minute;
- as root, an empty network namespace (unless ``network=True``): no network at all;
- a seccomp filter (x86_64 and aarch64; the layer ``seccomp`` in ``details["sandbox"]``):
  ``socket()`` and ``socketpair()`` fail with EPERM for every family (with ``network=True``,
  for all but AF_INET/AF_INET6), so no pathname unix socket is reachable (X11, D-Bus, tmux, a
  multiprocessing forkserver: Landlock does not cover ``connect()``) and no UDP leaves, as root
  or not; io_uring (which would bypass the filter), unshare/setns, bpf, userfaultfd,
  perf_event_open, keyrings, ptrace and process_vm_readv/writev fail the same way, as does
  every syscall of a foreign ABI (x32, i386);
- resource limits per process: address space (``memory_mb``, default 2048; ``None`` for
  runtimes where RLIMIT_AS misbehaves), CPU seconds, file size (16 MB), 256 open files, no core
  dumps, and RLIMIT_NPROC = 0: no fork and no threads, whatever the code calls (``posix.fork``);
- a wall-clock timeout, after which the test process kills the candidate and the parent kills
  every process left under the run's uids (so ``setsid``, a cleared parent-death signal and
  ignored signals do not keep one alive); when the gold has a canonical solution, the timeout is
  ``reference_factor`` x the reference's own run time (measured once per problem, clamped to
  [``min_timeout``, ``max_timeout``]), else ``timeout``;
- inside the candidate process the usual destructive functions are removed (``os.system``,
  ``os.fork``, ``os.kill``, file removal, ``subprocess``, ``ctypes``...) as in OpenAI's
  human-eval ``reliability_guard``: a speed bump with a clear TypeError, not the boundary;
- exceptions raised by the candidate reach the tests as errors of the same name, except that
  StopIteration, StopAsyncIteration, GeneratorExit, SystemExit and KeyboardInterrupt arrive as
  plain ``Exception`` subclasses (a real StopIteration would end ``zip(map(candidate, ...))``
  early, as if every check had passed).

Where the sandbox itself cannot run (root without CAP_SETUID, no Landlock as a user, a layer
that fails to install, no temporary directory) the verdict is ``error`` marked
``details["setup_failure"]`` (:func:`cotforge.verifiers.base.setup_error`): rewards give it
``None``, not a wrong-answer score. Anything a candidate causes (a crash, a broken channel, a
forged "sandbox unavailable" message) is ``incorrect`` or ``timeout``.

What is NOT contained:

- reading: the candidate reads whatever its uid may (world-readable files, ``/proc`` of other
  processes, their command lines; not root's 0700 home, not other runs' directories); as an
  ordinary user, every file that user can read. As root it also holds read-only handles on the
  interpreter's ``sys.path`` directories, so what is world-readable below them is readable
  even when a 0700 directory above closes it (a checkout with its venv under ``/root``);
- without Landlock (old kernels), a root sandbox uid can still create files in world-writable
  directories (``/tmp``, ``/dev/shm``; they outlive the run) and change world-writable files;
- resources in total: limits are per process (two of them, so up to 2 x ``memory_mb``), there is
  no cgroup, and many small files can fill the temporary directory's disk until the timeout;
- with ``network=True``: TCP and UDP over IPv4/IPv6, as the sandbox uid; on an architecture
  without the seccomp layer, UDP and unix sockets where there is no network namespace;
- without the zygote (not Linux, or ``sandbox.use_zygote = False``), as an ordinary user, a
  candidate that leaves its process group and clears its parent-death signal survives if the
  test process is itself stuck in C code when the deadline comes (the parent cannot kill by uid
  there; with the zygote, its subreaper, the orphan is killed within half a second);
- semantics the split changes: the tests see copies, so argument mutations by the candidate are
  invisible to them; results that are not plain data (generators, numpy values, custom classes)
  fail with a TypeError; tests can call the entry point by name and the prompt's helpers, not
  other functions the candidate defines. HumanEval's 164 canonical solutions all pass;
- hard-coded answers to the visible tests, and anything else a test cannot tell from a solution.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import keyword
import re
import sys
import textwrap
import threading
from typing import Any, Mapping

from cotforge.verifiers.base import Status, Verdict, setup_error
from cotforge.verifiers.code_sandbox import RunResult, Sandbox, SandboxUnavailable
from cotforge.verifiers.response import parse_response, to_text

__all__ = ["CodeVerifier", "RunResult", "SandboxUnavailable", "build_program", "candidate_program", "extract_code",
           "gold_problem"]

_FENCE_RE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PY_LANGS = {"python", "py", "python3", "py3", ""}
_ANSWER_TAG_RE = re.compile(r"<(/?)answer>", re.IGNORECASE)
_ANSWER_CLOSE_RE = re.compile(r"</answer>", re.IGNORECASE)


def _defines(code: str, entry_point: str | None) -> bool:
    if not entry_point:
        return False
    return re.search(rf"^(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE) is not None


def extract_code(response: Any, entry_point: str | None = None) -> tuple[str | None, str]:
    """The candidate code in ``response`` and where it came from (``fence``, ``answer_tag``,
    ``raw`` or ``none``); see the module docstring for the order."""
    text = to_text(response)
    if text is None:
        return None, "none"
    close = text.rfind("</think>")
    if close >= 0:
        text = text[close + len("</think>") :]
    source = "raw"
    opens = [m for m in _ANSWER_TAG_RE.finditer(text) if not m.group(1)]
    if opens:
        a = opens[-1].end()
        close = _ANSWER_CLOSE_RE.search(text, a)
        text = text[a : close.start() if close else len(text)]
        source = "answer_tag"
    fences = [(m.group(1).lower(), m.group(2)) for m in _FENCE_RE.finditer(text)]
    py = [body for lang, body in fences if lang in _PY_LANGS]
    for body in reversed(py):
        if _defines(body, entry_point):
            return body.rstrip() + "\n", "fence"
    labelled = [body for lang, body in fences if lang in _PY_LANGS - {""}]
    if labelled:
        return labelled[-1].rstrip() + "\n", "fence"
    if py:
        return py[-1].rstrip() + "\n", "fence"
    stripped = text.strip("\n")
    if not stripped.strip():
        return None, "none"
    return stripped.rstrip() + "\n", source


def build_program(gold: Mapping[str, Any], code: str) -> str:
    """Prompt + candidate + tests + ``check(entry_point)``, as HumanEval runs them (one file; the
    sandbox runs the first part and the tests in separate processes, see the module docstring)."""
    return f"{candidate_program(gold, code)}\n\n{gold['test']}\n\ncheck({gold['entry_point']})\n"


def candidate_program(gold: Mapping[str, Any], code: str) -> str:
    """What the candidate process runs: the prompt (helpers, imports) + the candidate's code."""
    prompt = gold.get("prompt") or ""
    entry = gold["entry_point"]
    if _defines(code, entry) or not prompt:
        return prompt + ("\n\n" if prompt else "") + code
    body = prompt + code
    first = next((ln for ln in code.splitlines() if ln.strip()), "")
    if first and not first[:1].isspace():
        try:
            compile(body, "<candidate>", "exec")
        except SyntaxError:  # a body-only completion whose indentation was stripped
            body = prompt + textwrap.indent(code, "    ")
        except Exception:
            pass
    return body


def gold_problem(gold: Any) -> str | None:
    """Why ``gold`` cannot grade anything (the verdict is then ``unparsable_gold``), else ``None``.

    Static checks only, so a broken problem is caught before any candidate runs (and before a
    reward is paid or withheld for it): the fields exist; ``test`` compiles and defines
    ``check``; ``entry_point`` is an identifier that the prompt + canonical solution define (or,
    without a canonical solution, that the prompt declares). Without this a test with a syntax
    error, or one that calls a function nobody defines, grades every candidate ``incorrect``.
    A reference solution that fails its own tests is found when it first runs (see ``verify``).
    """
    if not isinstance(gold, Mapping):
        return f"gold must be a mapping with 'test' and 'entry_point', got {type(gold).__name__}"
    for key in ("test", "entry_point"):
        if not isinstance(gold.get(key), str) or not gold[key].strip():
            return f"gold has no {key!r} string"
    for key in ("prompt", "canonical_solution"):
        if gold.get(key) is not None and not isinstance(gold.get(key), str):
            return f"gold {key!r} must be a string"
    entry = gold["entry_point"]
    if not entry.isidentifier() or keyword.iskeyword(entry):
        return f"entry_point {gold['entry_point']!r} is not a Python identifier"
    return _static_gold_problem(gold["test"], entry, gold.get("prompt") or "", gold.get("canonical_solution") or "")


@functools.lru_cache(maxsize=4096)  # samples of one problem repeat its gold (GRPO groups)
def _static_gold_problem(test: str, entry: str, prompt: str, canonical: str) -> str | None:
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes in the source
        return f"gold test does not compile: {_one_line(exc)}"
    if "check" not in _top_level_names(tree):
        return "gold test defines no check(candidate) function"
    if canonical.strip():
        try:
            solution = ast.parse(prompt + canonical)
        except (SyntaxError, ValueError) as exc:
            return f"gold prompt + canonical_solution do not compile: {_one_line(exc)}"
        if entry not in _top_level_names(solution):
            return f"entry_point {entry!r} is not defined by the prompt + canonical_solution"
    elif prompt.strip() and not re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(entry)}\s*\(", prompt, re.MULTILINE):
        return f"entry_point {entry!r} is not declared in the prompt"
    return None


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a module binds at top level: functions, classes, assignments, imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"{exc.msg} (line {exc.lineno})"
    return f"{type(exc).__name__}: {exc}"


class CodeVerifier:
    """Executes candidate code against the gold's tests; see the module docstring for exactly what
    the sandbox contains and what it does not.

    ``timeout``: wall seconds when there is no reference solution. ``reference_factor``,
    ``min_timeout``, ``max_timeout``: the timeout scaled from the reference's run time.
    ``memory_mb``: RLIMIT_AS of each sandbox process (``None`` = unlimited). ``network``: keep
    the network (default False: an empty network namespace as root, no TCP under Landlock).
    ``allow_unsandboxed``: where no confinement is possible, run candidates as the current user
    anyway (a warning is logged at most once a minute) instead of an ``error`` verdict.
    """

    name = "code"
    version = "2"
    #: Each candidate already runs in its own killable subprocess: batch callers grade these
    #: concurrently with threads rather than inside the verifier worker pool.
    isolated = True

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        memory_mb: int | None = 2048,
        file_size_mb: int = 16,
        use_reference: bool = True,
        reference_factor: float = 4.0,
        min_timeout: float = 2.0,
        max_timeout: float = 30.0,
        network: bool = False,
        allow_unsandboxed: bool = False,
        python: str | None = None,
    ):
        for label, value in (("timeout", timeout), ("min_timeout", min_timeout), ("max_timeout", max_timeout)):
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{label} must be a positive number of seconds, got {value!r}")
        if min_timeout > max_timeout:
            raise ValueError(f"min_timeout ({min_timeout}) exceeds max_timeout ({max_timeout})")
        if memory_mb is not None and (not isinstance(memory_mb, int) or memory_mb < 64):
            raise ValueError(f"memory_mb must be an int >= 64 or None, got {memory_mb!r}")
        if reference_factor <= 0:
            raise ValueError(f"reference_factor must be positive, got {reference_factor!r}")
        self.timeout = float(timeout)
        self.memory_mb = memory_mb
        self.file_size_mb = int(file_size_mb)
        self.use_reference = use_reference
        self.reference_factor = float(reference_factor)
        self.min_timeout = float(min_timeout)
        self.max_timeout = float(max_timeout)
        self.python = python or sys.executable
        self.sandbox = Sandbox(self.python, allow_unsandboxed=allow_unsandboxed, network=network)
        self._ref_cache: dict[str, tuple[float | None, str]] = {}
        self._ref_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Picklable (Ray tasks, process pools): the lock and the caches stay behind.
        state = dict(self.__dict__)
        state.pop("_ref_lock", None)
        state["_ref_cache"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._ref_lock = threading.Lock()

    # -- running ------------------------------------------------------------------------------

    @property
    def sandbox_user(self) -> str:
        """Who candidates run as: ``"sandbox uid"`` (a fresh uid per run) or the current user."""
        return self.sandbox.user

    def run(self, gold: Mapping[str, Any], code: str, timeout: float) -> RunResult:
        """Run ``code`` against ``gold``'s tests once in the sandbox with a wall-clock ``timeout``.
        Raises :class:`SandboxUnavailable` where candidates cannot be confined (see the module)."""
        return self.sandbox.run(
            prompt=gold.get("prompt") or "", program=candidate_program(gold, code), test=gold["test"],
            entry_point=gold["entry_point"], timeout=timeout, memory_mb=self.memory_mb,
            file_size_mb=self.file_size_mb,
        )

    def _reference_timeout(self, gold: Mapping[str, Any]) -> tuple[float | None, str]:
        """(timeout, "") scaled from the canonical solution, or (None, why) when it fails."""
        program = build_program(gold, gold["canonical_solution"])
        key = hashlib.sha256(program.encode()).hexdigest()
        with self._ref_lock:
            hit = self._ref_cache.get(key)
        if hit is not None:
            return hit
        res = self.run(gold, gold["canonical_solution"], self.max_timeout)
        if res.passed:
            out = (min(self.max_timeout, max(self.min_timeout, self.reference_factor * res.wall_s)), "")
        else:
            out = (None, f"reference solution fails its own tests: {res.error}")
        with self._ref_lock:
            self._ref_cache[key] = out
        return out

    # -- verifying ----------------------------------------------------------------------------

    def verify(self, gold: Any, response: Any, **kwargs: Any) -> Verdict:
        try:
            return self._verify(gold, response, **kwargs)
        except SandboxUnavailable as exc:  # not the candidate's doing: rewards skip it (None)
            return setup_error(str(exc))
        except OSError as exc:  # no temporary directory, no interpreter to start...
            return setup_error(f"could not run the sandbox: {exc}")
        except Exception as exc:  # pragma: no cover - never raise on model output
            return Verdict(Status.ERROR, 0.0, None, f"code verifier failed: {type(exc).__name__}: {exc}")

    def _verify(self, gold: Any, response: Any, *, truncated: bool = False, **_: Any) -> Verdict:
        problem = gold_problem(gold)
        if problem:
            return Verdict(Status.UNPARSABLE_GOLD, 0.0, None, problem)
        parsed = parse_response(response, truncated=truncated)
        if parsed.status is not None:
            return Verdict(parsed.status, 0.0, None, parsed.reason)
        code, source = extract_code(response, gold["entry_point"])
        if code is None:
            return Verdict(Status.NO_ANSWER, 0.0, None, "no code found")
        timeout = self.timeout
        if self.use_reference and isinstance(gold.get("canonical_solution"), str) and gold["canonical_solution"].strip():
            scaled, why = self._reference_timeout(gold)
            if scaled is None:
                return Verdict(Status.UNPARSABLE_GOLD, 0.0, code, why)
            timeout = scaled
        res = self.run(gold, code, timeout)
        details = {
            "source": source,
            "timeout_s": round(timeout, 3),
            "wall_s": round(res.wall_s, 3),
            "sandbox_user": self.sandbox_user,
            "sandbox": list(res.layers),
        }
        if res.stderr_tail:
            details["stderr_tail"] = res.stderr_tail
        if res.passed:
            return Verdict(Status.CORRECT, 1.0, code, "", details)
        if res.timed_out:
            return Verdict(Status.TIMEOUT, 0.0, code, res.error, details)
        return Verdict(Status.INCORRECT, 0.0, code, res.error or "tests failed", details)
