#!/usr/bin/env python3
"""Counts or deletes the benchmark's keys in one Redis db (run with the Feast venv's Python,
which has redis-py; Feast's keys are binary, so redis-cli | xargs cannot delete them).

    redis_keys.py count  DB PATTERN...
    redis_keys.py delete DB PATTERN...

Prints the number of keys matching any PATTERN (SCAN MATCH), before deleting them for
`delete`. Only those keys are touched: the db may hold other people's.
"""

import sys

import redis


def main():
    command, db, patterns = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    r = redis.Redis(host="127.0.0.1", port=6379, db=db)
    n = 0
    for pattern in patterns:
        batch = []
        for key in r.scan_iter(match=pattern, count=1000):
            n += 1
            if command == "delete":
                batch.append(key)
                if len(batch) == 1000:
                    r.delete(*batch)
                    batch = []
        if batch:
            r.delete(*batch)
    print(n)


if __name__ == "__main__":
    main()
