# The simulated board: make() builds the hardware interface over a plant model
# set up from a scenario. Imports stay inside make() so that host tools can use
# boards.sim.scenario / trace_schema without loading the board.


def make(scenario="idle", clock=None, store_dir="/tmp/bms-sim-store", sense_noise_lsb=1):
    """scenario: a Scenario, a shipped name or a JSON path. clock defaults to a VirtualClock."""
    from boards.sim import scenario as sc
    from boards.sim.chain import BatteryChain
    from boards.sim.clock import VirtualClock
    from boards.sim.hw import SimBoard
    from boards.sim.plant import Plant
    from boards.sim.readout_tap import ReadoutTap

    scn = scenario if isinstance(scenario, sc.Scenario) else sc.load(scenario)
    settings = scn.make_settings()
    clock = clock or VirtualClock()
    plant = Plant(scn.batteries, scn.plant, fuse_a=settings.alt_fuse_a)
    chain = BatteryChain(scn.batteries, settings.link_baud)
    board = SimBoard(plant, chain, clock, store_dir, sense_noise_lsb)
    board.scenario = scn
    board.settings = settings
    board.readout = ReadoutTap(scn.readout_key)
    return board
