# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """How the collection's file-editing modules write (module_utils/_safe_write.py)."""

    DOCUMENTATION = r'''
options: {}
notes:
  - Runs of this collection's modules on the same file take turns - each holds an C(fcntl.flock) lock on
    C(.<name>.lock) beside the file, removed when it is done, from its read to its rename - and read the file
    back after the rename, so none loses another's edit and a run reports a change only with its edit in
    the file. A writer that takes no lock is caught by a check of the file (content, inode, size, times)
    right before the rename, and the edit is applied again to what it wrote; a write in the instant between
    that check and the rename is the one case left.
  - A write that fails (a full or read-only file system, a lock held elsewhere for more than 600 seconds)
    fails the task with the path and the reason, and leaves the file as it was, with no temporary file, lock
    or backup beside it. A run killed during its write leaves the file as it was; the next run removes the
    temporary file it left.
'''
