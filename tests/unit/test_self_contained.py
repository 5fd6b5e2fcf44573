# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A clone of the repository is enough: no file refers to anything outside it.

The project was written beside a folder of working notes (design, facts,
seed documents, test data) that users never get. A path into it, or a
citation of one of its documents instead of the fact itself, would send a
reader (or a test) to something that is not there.
"""

from __future__ import annotations

import pathlib
import subprocess

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
# Spelled in pieces so that this file does not find itself.
OUTSIDE = tuple(''.join(parts) for parts in (('..', '/shared'), ('FACTS', '.md'), ('DESIGN', '.md'), ('shared/', 'data'),
                                             ('shared/', 'seeds')))


def project_files():
    listed = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                            cwd=REPOSITORY, capture_output=True, check=True).stdout.split(b'\0')
    return [REPOSITORY / name.decode() for name in listed if name and (REPOSITORY / name.decode()).is_file()]


def test_the_file_list_is_the_project():
    names = {path.relative_to(REPOSITORY).as_posix() for path in project_files()}
    assert {'galaxy.yml', 'Makefile', 'plugins/modules/runner_config.py'} <= names


def test_no_file_refers_outside_the_repository():
    found = []
    for path in project_files():
        text = path.read_bytes().decode('utf-8', 'replace')
        found += ['%s: %s' % (path.relative_to(REPOSITORY), word) for word in OUTSIDE if word in text]
    assert found == []
