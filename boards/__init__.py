# One module per controller board: make() wires pins to drivers and returns a
# drivers.hardware.Hardware. Pin maps are documented in docs/boards.md.
