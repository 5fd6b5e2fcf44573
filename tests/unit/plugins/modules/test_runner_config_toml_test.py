# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""runner_config (a ``global`` edit) over the public TOML test suite's TOML 1.0 files.

Every valid document keeps its data; every invalid one is refused and left
byte-identical, even those tomlkit alone would accept. The suite's TOML 1.0
files are in ``tests/unit/data/toml-test`` (MIT, with its licence);
TOML_TEST_DIR points at another copy of the suite.
"""

from __future__ import annotations

import math
import os
import pathlib
import tomllib

import pytest
import tomlkit

from ansible_collections.behindproxy.gitlab_runner.plugins.modules.runner_config import main

REPOSITORY = pathlib.Path(__file__).resolve().parents[4]
SUITE = pathlib.Path(os.environ.get('TOML_TEST_DIR', REPOSITORY / 'tests' / 'unit' / 'data' / 'toml-test'))
LISTING = SUITE / 'files-toml-1.0.0'
OLD_TOMLKIT = tuple(int(part) for part in tomlkit.__version__.split('.')[:2]) < (0, 12)


def suite_files(kind):
    if not LISTING.is_file():
        raise FileNotFoundError('the TOML test suite listing %s is missing: set TOML_TEST_DIR' % LISTING)
    return [line for line in LISTING.read_text().split() if line.startswith(kind + '/') and line.endswith('.toml')]


VALID = suite_files('valid')
INVALID = suite_files('invalid')


def same(left, right):
    """Data equality where NaN equals NaN and 1 differs from 1.0 and true."""
    if isinstance(left, dict):
        return isinstance(right, dict) and left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return isinstance(right, list) and len(left) == len(right) and all(same(a, b) for a, b in zip(left, right))
    if isinstance(left, float) and math.isnan(left):
        return isinstance(right, float) and math.isnan(right)
    return type(left) is type(right) and left == right


def load_bytes(raw):
    return tomllib.loads(raw.decode('utf-8').removeprefix('\ufeff'))


def test_suite_is_there():
    assert len(VALID) > 150 and len(INVALID) > 400


@pytest.mark.parametrize('name', VALID)
def test_valid_document_keeps_its_data(run_module, tmp_path, name):
    original = (SUITE / name).read_bytes()
    path = tmp_path / 'config.toml'
    path.write_bytes(original)
    result, failed, dummy = run_module(main, {'path': str(path), 'global': {'concurrent': 4}})
    if failed:
        # tomlkit 0.11 (Debian 12's python3-tomlkit) cannot parse a few valid
        # documents (+0E2); refusing them untouched is then the right answer.
        assert OLD_TOMLKIT and 'cannot parse it' in result['msg'], result['msg']
        assert path.read_bytes() == original
        return
    written = path.read_bytes()
    expected = load_bytes(original)
    expected['concurrent'] = 4
    assert same(load_bytes(written), expected)
    assert written.startswith(b'\xef\xbb\xbf') == original.startswith(b'\xef\xbb\xbf')


@pytest.mark.parametrize('name', INVALID)
def test_invalid_document_is_refused_and_untouched(run_module, tmp_path, name):
    original = (SUITE / name).read_bytes()
    path = tmp_path / 'config.toml'
    path.write_bytes(original)
    result, failed, dummy = run_module(main, {'path': str(path), 'global': {'concurrent': 4}})
    assert failed
    assert 'not valid' in result['msg']
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ['config.toml']
