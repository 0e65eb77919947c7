"""Picking up edited rule files in a running scheduler (``rules run``) without a restart.

Prometheus re-reads its rules on SIGHUP and keeps the old ones when the new ones do not
load; a ThirdEye owner's edit takes effect without anyone redeploying. ``rules run`` looks at
its files' names, sizes, modification times and inodes before every tick (and at once on
SIGHUP) and reloads when they changed. A file that now has errors keeps the rules it had, so a
half-saved edit or a typo never silences a model's alerts: the errors are logged with file,
line and field, and every other file's edit takes effect. The alert state carries over as on
a restart: an edited rule's alerts go on (``Evaluator._adopt_orphans``), a deleted rule's
resolve.

The data contracts and reference profiles the rule files name (``contract:
../contracts/fraud.contract.yaml``, ``reference: ../references/fraud.json``, kept outside the
rules folder as in ``examples/``) are watched with the rule files: an edit reloads them, as an
edit of the rule file would (it took a restart, a SIGHUP or an edit to a rules file). A
file whose contract has a bad column entry is no broken file: its rules load (its
``contract.*`` rules leave that entry out, as at start-up), so another rule's edit in the
same file takes effect at once.

So are the trained models its rules name (``detector: {type: learned, model:
../models/latency}``, a directory): a model retrained in place (``anomaly train --out`` over
the same directory) kept running its old version until a restart or SIGHUP, since neither the
rule file nor anything it names at its top changed. Every file of the directory is watched,
the files :func:`~modelhealth.anomaly.model.load_shared` fingerprints, so a reload happens
exactly when the detector would load the model afresh. A retrain caught half-way (its model
files renamed into place, its ``meta.json``, written last, still the old one's) does not load
(``meta.json`` records each file's size and sha256): the rule's file keeps its previous
rules, the kept learned rule runs on with the detector (the model) it held, and the retrain's
last file triggers the reload that takes it. The same holds for a model directory damaged
for good (a truncated or corrupt file): an error naming the file, line, rule and model file
until it is retrained or restored. Only that file waits: the reload builds every rule's
detector anew, and a kept rule whose model does not load keeps the one it had
(``Evaluator(previous=...)``) instead of failing the whole reload, which held back every
other file's edits until the model was fixed.

The routing file (``--routing``) is watched the same way and reloaded into the running
dispatcher (``Dispatcher.reconfigure``): a file that no longer loads keeps the running routing.
SIGHUP and ``POST /-/reload`` (with ``--listen``) reload both at once, as Prometheus' and
Alertmanager's do; :class:`ConfigWatch` decides what is due and carries the HTTP request's
answer back from the scheduler loop, the one thread that may swap configurations.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from modelhealth.files import Stamps, file_stamps
from modelhealth.rules.config import LoadResult, load_rules, rule_files
from modelhealth.rules.detectors import PATH_PARAMS
from modelhealth.rules.loadissues import files_with_skipped_rules

log = logging.getLogger(__name__)

Fingerprint = Stamps


def files_fingerprint(paths: Sequence[str | Path]) -> Fingerprint:
    """Name, size, modification time and inode of every rule file under ``paths``
    (:func:`~modelhealth.files.file_stamps`): a new, deleted, renamed, edited or replaced file
    changes it; one gone between the listing and the stat reads as missing. A stat per file:
    cheap enough for every tick."""
    return file_stamps(rule_files(paths))


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where installed: a rule file's ``contract:``, ``reference:`` and its
rules' detector paths are all it needs."""


def named_files(paths: Sequence[str | Path]) -> list[Path]:
    """The files the rule files under ``paths`` name at their top (``contract:`` and
    ``reference:``, relative to the file, as the loader resolves them), each once.

    Read when the rule files change, not at every look: a YAML parse per file. A file that
    does not parse, or names none, adds none (its own stamps are watched)."""
    return _named(paths)[0]


def named_models(paths: Sequence[str | Path]) -> list[Path]:
    """The trained models the rules under ``paths`` name (``detector: {type: learned,
    model: PATH}``, every path parameter of :data:`~modelhealth.rules.detectors.PATH_PARAMS`),
    resolved as the loader resolves them: ``~`` expanded, a relative path against the rule
    file's folder. Each once; a rule with no such path, or a file that does not parse, adds
    none."""
    return _named(paths)[1]


def _named(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """:func:`named_files` and :func:`named_models`, from one parse of each rule file."""
    files: dict[Path, None] = {}
    models: dict[Path, None] = {}
    for file in rule_files(paths):
        try:
            top = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if not isinstance(top, dict):
            continue
        for key in NAMED_KEYS:
            named = top.get(key)
            if isinstance(named, str) and named:
                files.setdefault(file.parent / named, None)
        rules = top.get("rules")
        for rule in rules if isinstance(rules, list) else ():
            detector = rule.get("detector") if isinstance(rule, dict) else None
            if not isinstance(detector, dict) or not isinstance(detector.get("type"), str):
                continue
            for key in PATH_PARAMS.get(detector["type"], ()):
                given = detector.get(key)
                if isinstance(given, str) and given:
                    path = Path(given).expanduser()  # as config's _RuleBuilder._detector
                    models.setdefault(path if path.is_absolute() else file.parent / path, None)
    return list(files), list(models)


NAMED_KEYS = ("contract", "reference")
"""Top-level keys of a rules file that name a file its rules read at load: the data contract
and the training profile. A re-profiled reference (new bin edges after a retrain) took a
restart to reach the drift rules, as a contract's edit did."""


def model_stamps(models: Sequence[Path]) -> Fingerprint:
    """The stamps of every file of each model directory (the files
    :func:`~modelhealth.anomaly.model.load_shared` fingerprints: regular files, the hidden
    temporary ones of a save under way too), after a mark of the directory itself; of the
    path itself where it is no directory (a missing one reads as missing, so training into
    it later is a change). A listing per model: it is read at every look, since a retrain
    adds and replaces files without touching anything else the watch sees."""
    out: list[tuple[str, int, int, int]] = []
    for model in models:
        try:
            files = sorted(e.path for e in os.scandir(model) if e.is_file())
        except OSError:  # missing, unreadable or a file: its own stamp
            out.extend(file_stamps([model]))
            continue
        out.append((os.fspath(model), *_FOLDER))
        out.extend(file_stamps(files))
    return tuple(out)


_FOLDER: tuple[int, int, int] = (0, 0, 0)
"""The stamp :func:`model_stamps` gives a model directory itself (its files follow)."""


def reload_rules(paths: Sequence[str | Path], current: LoadResult) -> LoadResult:
    """Load ``paths`` again; a file with errors that skip rules now keeps its rules from
    ``current``.

    The result's ``issues`` are the new load's (so the caller logs them and keeps alerts of
    rules it could not load), its ``rules`` the new rules of every clean file plus the kept
    rules of the broken ones, minus any whose name is now taken by another file's rule. A
    file whose only error is a contract read without a bad entry is not broken: every rule
    of it loaded, so its new rules run (as after a restart), and an edit of one of them
    no longer waits for the contract to be fixed."""
    fresh = load_rules(paths)
    broken = files_with_skipped_rules(fresh.issues)
    if not broken:
        return fresh
    rules = [r for r in fresh.rules if r.source.file not in broken]
    taken = {(r.model, r.name) for r in rules}
    for old in current.rules:
        if old.source.file not in broken:
            continue
        if (old.model, old.name) in taken:
            log.warning(
                "%s: rule %r of model %r now defined elsewhere; the broken file's copy is dropped",
                old.source.file, old.name, old.model,
            )  # fmt: skip
            continue
        rules.append(old)
        taken.add((old.model, old.name))
    kept = sorted(broken & {r.source.file for r in current.rules})
    for file in kept:
        log.warning("%s has errors: its previous rules stay in force until it loads", file)
    return LoadResult(rules=rules, issues=fresh.issues, files=fresh.files, notes=fresh.notes)


@dataclass(frozen=True)
class ReloadResult:
    """What a reload found wrong (each error ``file:line:col: ...``); none: all loaded."""

    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def text(self) -> str:
        if self.ok:
            return "reloaded\n"
        return "reload failed; the running configuration stays where a file did not load:\n" + (
            "".join(f"{e}\n" for e in self.errors)
        )


@dataclass
class _Ticket:
    """One ``POST /-/reload`` waiting for the loop's answer."""

    done: threading.Event = field(default_factory=threading.Event)
    result: ReloadResult = field(default_factory=ReloadResult)


@dataclass(frozen=True)
class Due:
    """What the scheduler loop reloads now, and the reload requests its result answers."""

    rules: bool
    routing: bool
    tickets: tuple[_Ticket, ...] = ()

    def __bool__(self) -> bool:
        return self.rules or self.routing or bool(self.tickets)


class ConfigWatch:
    """When ``rules run`` reloads what: a rule file, a contract, reference or trained model it
    names, or the routing file changed (name, size, modification time, inode), or a SIGHUP or ``POST
    /-/reload`` (:meth:`request`) set ``wake``, which reloads both. Only the scheduler loop
    reloads (it owns the evaluator); a request from the HTTP thread waits for the loop's
    :meth:`answer`."""

    def __init__(
        self, rule_paths: Sequence[str | Path], routing: str | Path | None, wake: threading.Event
    ) -> None:
        self.rule_paths = list(rule_paths)
        self.routing = routing
        self.wake = wake
        self._rule_files_seen = files_fingerprint(self.rule_paths)
        self._named, self._models = _named(self.rule_paths)
        self._rules_seen = self._rules_fingerprint(self._rule_files_seen)
        self._routing_seen = self._routing_fingerprint()
        self._lock = threading.Lock()
        self._tickets: list[_Ticket] = []

    def _rules_fingerprint(self, rule_files: Fingerprint) -> Fingerprint:
        """The rule files' stamps and those of the contracts, references and model
        directories' files they name (which are read again when a rule file changed: it may
        name others now)."""
        if rule_files != self._rule_files_seen:
            self._named, self._models = _named(self.rule_paths)
            self._rule_files_seen = rule_files
        return rule_files + file_stamps(self._named) + model_stamps(self._models)

    def _routing_fingerprint(self) -> Fingerprint:
        return files_fingerprint([self.routing]) if self.routing else ()

    def due(self) -> Due:
        """What to reload now (the files' new state counts as seen, so an edit made while
        reloading triggers another reload)."""
        forced = self.wake.is_set()
        self.wake.clear()
        with self._lock:
            tickets, self._tickets = tuple(self._tickets), []
        rules = self._rules_fingerprint(files_fingerprint(self.rule_paths))
        routing = self._routing_fingerprint()
        due = Due(
            rules=forced or rules != self._rules_seen,
            routing=bool(self.routing) and (forced or routing != self._routing_seen),
            tickets=tickets,
        )
        self._rules_seen, self._routing_seen = rules, routing
        return due

    def request(self, timeout: float) -> ReloadResult | None:
        """Ask the loop to reload everything and wait for the result (None: no answer within
        ``timeout``, e.g. a long tick; the reload still happens after it)."""
        ticket = _Ticket()
        with self._lock:
            self._tickets.append(ticket)
        self.wake.set()
        return ticket.result if ticket.done.wait(timeout) else None

    def answer(self, tickets: Sequence[_Ticket], result: ReloadResult) -> None:
        """Give the requests the reload they asked for its ``result``."""
        for ticket in tickets:
            ticket.result = result
            ticket.done.set()

    def close(self, reason: str) -> None:
        """Answer every request still waiting (the loop is ending) with ``reason``."""
        with self._lock:
            tickets, self._tickets = tuple(self._tickets), []
        self.answer(tickets, ReloadResult((reason,)))
