#!/usr/bin/env python3
"""Compare an e2e page's JSON result with the expected values: check.py NAME RESULT WANT."""
import json
import sys

name, result, want = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
bad = {k: (result.get(k), v) for k, v in want.items() if result.get(k) != v}
if bad:
    print(f"{name}: FAILED", bad, result.get("error", ""))
    sys.exit(1)
print(f"{name}: {len(want)} passed, 0 failed")
