#!/usr/bin/env python3
"""Prints the README's example ticket (example/payloads/canonical-ticket.json)
with its dates moved to the present, so that the quick start answers the
same on any day. Standard library only.

    scripts/example-ticket.py [--deny] [--days N] [--now RFC3339]

ACC-4410 asks for DDL rights (admin) on payments-db in prod for a change
window; the example configuration lets admin access last at most 30 days.

  (default)   allow: the ticket as shipped, created now, ending in --days
              days (default 3, the change window of the example).
  --deny      deny: the requester, bob@example.com, approved his own
              request. Separation of duties refuses it (SOD_SELF_APPROVAL),
              and bob holds no authority over payments-db (AUTHORITY_NONE).
  --days N    end N days from now; past 30 the expiry rule denies it
              (EXPIRY_TOO_LONG, naming the last day allowed).
  --now T     the present, as an RFC 3339 UTC instant (default: the clock),
              e.g. for `ticketgate check --now T`.

The end is a date-time at whole minutes, rounded down, so --days 30 stays
within the 30 days even when the server decides a few seconds later."""
import argparse, datetime as dt, json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
TICKET = os.path.join(HERE, "..", "example", "payloads", "canonical-ticket.json")


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_now(s):
    try:
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError("not an RFC 3339 date-time: %r" % s)
    if t.tzinfo is None:
        raise argparse.ArgumentTypeError("give a zone (Z or +hh:mm): %r" % s)
    return t.astimezone(dt.timezone.utc)


def main():
    p = argparse.ArgumentParser(
        description="The example ticket with dates relative to now.")
    p.add_argument("--deny", action="store_true",
                   help="the requester approves his own request")
    p.add_argument("--days", type=int, default=3,
                   help="days from now until the access ends (default 3)")
    p.add_argument("--now", type=parse_now,
                   help="the present (RFC 3339); default: the clock")
    a = p.parse_args()
    if a.days < 0:
        p.error("--days must not be negative")

    with open(TICKET, encoding="utf-8") as f:
        t = json.load(f)
    now = (a.now or dt.datetime.now(dt.timezone.utc)).replace(second=0,
                                                              microsecond=0)
    t["created_at"] = stamp(now)
    t["expires_at"] = stamp(now + dt.timedelta(days=a.days))
    if a.deny:
        t["approver"] = t["requester"]
        t["transition"]["actor"] = t["requester"]
    json.dump(t, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
