#!/usr/bin/env python3
"""Runs shared/corpus/check.py against the rmig binary; exit 77 (skipped)
when shared/corpus is not beside the repository."""
import os, subprocess, sys

rmig, corpus = sys.argv[1], sys.argv[2]
check = os.path.join(corpus, 'check.py')
if not os.path.exists(check):
    print('shared/corpus is not there (%s): skipped' % corpus)
    sys.exit(77)
sys.exit(subprocess.call([sys.executable, check, rmig, '--corpus', corpus]))
