"""UTC offsets of local times, read by python's zoneinfo from the system tzdb.

Used by tests/zone_python.rs as an implementation independent of chrono-tz and jiff.

    python3 tests/data/zone_offsets.py ZONE...

For each zone, prints a line `zone NAME COUNT`, then one offset in seconds per sample: every
local date from 1900-01-01 to 2199-12-31 in steps of STEP_DAYS days, at each of TIMES, in
that order. The offset is the one `utcoffset()` gives with fold=0 (PEP 495): in a gap the
offset before the transition (the time moves forward by the gap), in an overlap the earlier
instant's. Past a zone's last listed transition zoneinfo applies the TZif footer's POSIX rule.
Exits with status 3 when the system tzdb is missing.
"""

import datetime
import sys

try:
    import zoneinfo
except ImportError:  # python < 3.9
    sys.exit(3)

STEP_DAYS = 17
TIMES = [(0, 30), (1, 30), (2, 30), (9, 0), (23, 30)]
FIRST = datetime.date(1900, 1, 1)
LAST = datetime.date(2199, 12, 31)


def main(names):
    out = []
    for name in names:
        try:
            zone = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            sys.exit(3)
        offsets = []
        day = FIRST
        while day <= LAST:
            for hour, minute in TIMES:
                local = datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                offsets.append(str(int(local.utcoffset().total_seconds())))
            day += datetime.timedelta(days=STEP_DAYS)
        out.append("zone %s %d" % (name, len(offsets)))
        out.extend(offsets)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
