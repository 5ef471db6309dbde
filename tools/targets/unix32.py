# The 32-bit unix port of tools/port.py (target "unix32"): what the firmware
# needs of the boards' ports beside their C modules (asyncio; cryptolib and
# hashlib come from axtls), nothing of the firmware. The stock unix manifest
# requires micropython-lib packages that the shared source does not carry.
include("$(MPY_DIR)/extmod/asyncio")
