# The app the bmsctl end-to-end tests serve through boards/sim/ble_bridge.py.
from bleapp_double import App


def make_app():
    return App()
