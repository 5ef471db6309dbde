# The Hardware object a board's make() returns: the attributes listed in
# docs/architecture.md, nothing else. Boards fill it; the controller reads it.


class Hardware:
    def __init__(self, name, chg_gate, dsg_gate, alt_gate, load_out, charge_out,
                 prealarm_out, sense, link, led, wdt, store, sys_oc, dsg_limit):
        self.name = name
        self.chg_gate = chg_gate
        self.dsg_gate = dsg_gate
        self.alt_gate = alt_gate
        self.load_out = load_out
        self.charge_out = charge_out
        self.prealarm_out = prealarm_out
        self.sense = sense
        self.link = link
        self.led = led
        self.wdt = wdt
        self.store = store
        self.sys_oc = sys_oc  # System+ over-current latch: tripped(), rearm()
        self.dsg_limit = dsg_limit  # discharge MOSFET driver's 80 A limit (a start): set(on)
