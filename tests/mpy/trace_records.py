# A trace stream for run_fast(): checks each JSON record against the trace
# schema and keeps the named keys of every record, as dicts.
import json

from boards.sim.trace_schema import check


class Records:
    def __init__(self, keep):
        self.keep = keep
        self.part = ""
        self.recs = []

    def write(self, s):
        self.part += s
        if s == "\n":
            rec = json.loads(self.part)
            self.part = ""
            assert check(rec) == [], check(rec)
            self.recs.append(dict((k, rec[k]) for k in self.keep))
