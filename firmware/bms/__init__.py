# Pure battery-management logic: no hardware, no clock, no I/O. Time comes in as
# an argument in ms ticks, values are integers in mV, mA and 0.1 degC.
