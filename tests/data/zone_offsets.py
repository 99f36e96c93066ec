"""UTC offsets of local times, read by python's zoneinfo from PyPI's `tzdata` package only.

Used by tests/zone_python.rs as an implementation independent of jiff (which the crate
uses). The system's zoneinfo folder is ignored (it may hold another release): the search
path is emptied, so zoneinfo falls back to the `tzdata` package.

    python3 tests/data/zone_offsets.py STEP_DAYS FIRST_YEAR LAST_YEAR HH:MM,... (ZONE... | --all)

Prints `version RELEASE` (the tzdata package's IANA release), then for each zone (every zone
of the package with --all, sorted) a line `zone NAME COUNT` and a line of COUNT offsets in
seconds, space-separated: every STEP_DAYS-th local date from FIRST_YEAR-01-01 to
LAST_YEAR-12-31, at each of the times, in that order. The offset is the one `utcoffset()`
gives with fold=0 (PEP 495): in a gap the offset before the transition (the time moves
forward by the gap), in an overlap the earlier instant's. Past a zone's last listed
transition zoneinfo applies the TZif footer's POSIX rule.
Exits with status 3 when zoneinfo or the tzdata package is missing.
"""

import datetime
import sys

try:
    import zoneinfo

    import tzdata
except ImportError:
    sys.exit(3)


def main(args):
    step, first_year, last_year, times = int(args[0]), int(args[1]), int(args[2]), args[3]
    times = [tuple(int(p) for p in t.split(":")) for t in times.split(",")]
    zoneinfo.reset_tzpath(to=[])
    names = sorted(zoneinfo.available_timezones()) if args[4:] == ["--all"] else args[4:]
    first = datetime.date(first_year, 1, 1)
    last = datetime.date(last_year, 12, 31)
    out = ["version %s" % tzdata.IANA_VERSION]
    for name in names:
        zone = zoneinfo.ZoneInfo(name)
        offsets = []
        day = first
        while day <= last:
            for hour, minute in times:
                local = datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                offsets.append(str(int(local.utcoffset().total_seconds())))
            day += datetime.timedelta(days=step)
        out.append("zone %s %d" % (name, len(offsets)))
        out.append(" ".join(offsets))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
