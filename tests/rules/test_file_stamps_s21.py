"""One stat stamp (size, mtime, inode) tells ``rules run`` and the dashboard a file changed.

``rules/reload.py``, ``dashboard/sources.py`` and ``dashboard/data.py`` each had their own:
name + size + mtime, name + mtime, inode + mtime + size. They share
:func:`modelhealth.files.file_stamps` now, so a rule file replaced by one of the same size
and modification time (``cp -p``, ``rsync -t``, a restored backup: a new inode) is reloaded
too, as a replaced store snapshot already reopened the dashboard's store.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from modelhealth.files import NO_STAMP, file_stamps
from modelhealth.rules.reload import ConfigWatch
from tests.rules.test_run_daemon import QUIET


def test_a_rule_file_replaced_with_the_same_size_and_time_is_reloaded(tmp_path: Path) -> None:
    rules = tmp_path / "fraud.yaml"
    rules.write_text(QUIET)
    watch = ConfigWatch([tmp_path], None, threading.Event())
    assert not watch.due()

    edited = tmp_path / "fraud.yaml.new"
    edited.write_text(QUIET.replace("100000", "100001"))  # a new threshold, same size
    old = os.stat(rules)
    os.utime(edited, ns=(old.st_atime_ns, old.st_mtime_ns))  # as `cp -p` keeps them
    os.replace(edited, rules)
    assert os.stat(rules).st_size == old.st_size
    assert os.stat(rules).st_mtime_ns == old.st_mtime_ns
    assert watch.due().rules, "the replaced rule file was not seen"
    assert not watch.due()  # seen now


def test_a_missing_file_has_a_stamp_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "here").write_text("x")
    here, gone = file_stamps([tmp_path / "here", tmp_path / "gone"])
    assert here[0] == str(tmp_path / "here") and here[1] == 1
    assert gone == (str(tmp_path / "gone"), *NO_STAMP)
